"""Admin alerts: those not dismissed, and which kinds this admin receives by e-mail."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import delete, select

from .. import audit
from ..alerts.check import open_alerts
from ..alerts.registry import KINDS
from ..extensions import db
from ..models import AdminAlert, AlertOptOut
from ..models.base import utcnow
from . import bp


@bp.get("/alerts")
@login_required
def alerts():
    opted_out = set(db.session.scalars(select(AlertOptOut.kind).where(AlertOptOut.admin_id == current_user.id)))
    return render_template("admin/alerts.html", alerts=open_alerts(100), kinds=KINDS, opted_out=opted_out)


@bp.post("/alerts/preferences")
@login_required
def alert_preferences():
    wanted = {kind for kind in KINDS if request.form.get(kind) == "on"}
    db.session.execute(delete(AlertOptOut).where(AlertOptOut.admin_id == current_user.id))
    db.session.add_all([AlertOptOut(admin_id=current_user.id, kind=kind) for kind in KINDS if kind not in wanted])
    audit.record("admin.alert_preferences", target_type="admin", target_id=current_user.id,
                 detail={"receives": sorted(wanted)})
    db.session.commit()
    flash("Your alert e-mail choices are saved.", "info")
    return redirect(url_for("admin.alerts")), 303


@bp.post("/alerts/<id:alert_id>/dismiss")
@login_required
def dismiss_alert(alert_id: int):
    alert = db.session.get(AdminAlert, alert_id)
    if alert is None:
        abort(404)
    if alert.dismissed_at is None:
        alert.dismissed_at, alert.dismissed_by = utcnow(), current_user.email
        audit.record("admin.alert_dismissed", target_type="admin_alert", target_id=alert_id)
        db.session.commit()
    back = url_for("admin.index") if request.form.get("back") == "dashboard" else url_for("admin.alerts")
    return redirect(back), 303


@bp.app_context_processor
def admin_alerts_processor():
    """``admin_alerts()`` for the dashboard's alert list."""
    return {"admin_alerts": open_alerts}
