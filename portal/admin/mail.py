"""The mail page: SMTP settings (or those the environment fixes), a test message, the outbox."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import case, func, select

from .. import audit
from ..extensions import db
from ..mail.outbox import queue_test_message
from ..mail.settings import effective_settings, from_environment, page_values, save_page_settings, validate_page_form
from ..mail.smtp_url import SECURITY_MODES, check_address
from ..models import MailOutbox
from . import bp

RECENT = 25


def _outbox_counts() -> dict[str, int]:
    status = case((MailOutbox.sent_at.is_not(None), "sent"), (MailOutbox.failed_at.is_not(None), "failed"),
                  else_="waiting")
    counts = {"waiting": 0, "sent": 0, "failed": 0}
    counts.update(dict(db.session.execute(select(status, func.count()).group_by(status)).all()))
    return counts


def _page(errors: dict[str, str] | None = None, values=None, status: int = 200):
    recent = db.session.scalars(select(MailOutbox).order_by(MailOutbox.id.desc()).limit(RECENT)).all()
    return render_template("admin/mail.html", stored=page_values(), effective=effective_settings(),
                           env=from_environment(), errors=errors or {}, values=values, modes=SECURITY_MODES,
                           counts=_outbox_counts(), recent=recent), status


@bp.get("/mail")
@login_required
def mail():
    return _page()


@bp.post("/mail/settings")
@login_required
def mail_settings():
    if from_environment():
        flash("SMTP_URL is set in the environment, which wins over this page: nothing was saved.", "error")
        return redirect(url_for("admin.mail")), 303
    values, errors = validate_page_form(request.form)
    if errors:
        return _page(errors, request.form, 422)
    changed = save_page_settings(values)
    if changed:
        audit.record("settings.mail_updated", target_type="settings", target_id="mail", detail={"changed": changed})
    db.session.commit()
    flash("Mail settings saved." if changed else "Nothing changed.", "info")
    return redirect(url_for("admin.mail")), 303


@bp.post("/mail/test")
@login_required
def mail_test():
    try:
        address = check_address(request.form.get("to", "") or current_user.email)
    except ValueError as exc:
        flash(f"Nothing was sent: {exc}", "error")
        return redirect(url_for("admin.mail")), 303
    queue_test_message(address)
    db.session.commit()
    flash(f"A test message to {address} is in the outbox; the worker sends it within seconds"
          f"{'' if effective_settings() else ' once an SMTP server is set'}.", "info")
    return redirect(url_for("admin.mail")), 303
