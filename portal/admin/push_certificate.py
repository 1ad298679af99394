"""The push certificate page: status, upload and renewal, dead push tokens."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy import select

from mdm_core.apns.certificate import PushCertificateError

from ..extensions import db
from ..models import Device
from ..models.device import DeviceStatus
from ..pki import push_topic
from ..push.certificate import TopicChangeRefused, import_push_certificate, push_status
from . import bp
from .forms import PushCertificateForm

MAX_UPLOAD = 64 * 1024


def _read(field) -> bytes | None:
    if not field.data:
        return None
    data = field.data.read(MAX_UPLOAD + 1)
    return data or None


@bp.route("/push-certificate", methods=["GET", "POST"])
@login_required
def push_certificate():
    form = PushCertificateForm()
    status_code = 200
    topic_change = None
    if form.validate_on_submit():
        cert_data, key_data = _read(form.certificate), _read(form.key)
        if not cert_data or len(cert_data) > MAX_UPLOAD or (key_data and len(key_data) > MAX_UPLOAD):
            flash("Refused: upload the certificate file (at most 64 KiB).", "error")
            status_code = 400
        else:
            try:
                push = import_push_certificate(cert_data, key_data, form.password.data or None,
                                               allow_topic_change=form.allow_topic_change.data)
            except TopicChangeRefused as exc:
                db.session.rollback()
                topic_change = exc
                status_code = 409
            except PushCertificateError as exc:
                db.session.rollback()
                flash(f"Refused: {exc}", "error")
                status_code = 422
            else:
                db.session.commit()
                flash(f"Push certificate imported: topic {push.topic}, {push.days_left()} days left.", "info")
                return redirect(url_for("admin.push_certificate"))
    elif form.is_submitted():
        status_code = 400
    dead = db.session.scalars(select(Device).where(Device.push_token_dead_at.is_not(None),
                                                   Device.status != DeviceStatus.UNENROLLED)
                              .order_by(Device.push_token_dead_at.desc()).limit(50)).all()
    topic, placeholder = push_topic()
    return render_template("admin/push_certificate.html", form=form, status=push_status(), topic=topic,
                           placeholder=placeholder, dead=dead, topic_change=topic_change), status_code


@bp.context_processor
def push_alerts_processor():
    """``push_alerts()`` for the dashboard's alert block (BadCertificate, expiry, dead tokens)."""
    return {"push_alerts": push_status}
