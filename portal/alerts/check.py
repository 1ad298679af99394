"""The worker's alert job: find what crossed a threshold, store it once, mail it once per admin."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..database.upsert import insert_once
from ..extensions import db
from ..i18n import organization_language
from ..mail.outbox import public_link, queue_copies
from ..models import Admin, AdminAlert, AlertOptOut, AuditEvent
from ..models.base import utcnow
from ..offboarding.status import alert_after
from ..offboarding.status import summary as offboarding_summary
from ..push.certificate import ALERT_KEY as APNS_ALERT_KEY
from ..settings_store import get_setting, organization_name
from .registry import EXPIRING, THRESHOLDS

FAILURE_THRESHOLD_KEY = "alerts.failures_per_hour"
DEFAULT_FAILURE_THRESHOLD = 20


def raise_alert(kind: str, key: str, message: str, detail: dict | None = None, now: datetime | None = None) -> int | None:
    """Store the alert unless ``key`` was raised before; mail it to each admin who wants ``kind``.
    Returns the new alert's id, or None. The caller commits."""
    table = AdminAlert.__table__
    row = {"kind": kind, "key": key[:200], "message": message[:500], "detail": detail or {}, "raised_at": now or utcnow()}
    alert_id = db.session.execute(insert_once(table, row, [table.c.key]).returning(table.c.id)).scalar()
    if alert_id is None:
        return None
    opted_out = select(AlertOptOut.admin_id).where(AlertOptOut.kind == kind)
    values = {"organization": organization_name(), "message": message, "admin_url": public_link("/admin/")}
    recipients = [(email, f"alert:{alert_id}:{admin_id}")
                  for admin_id, email in db.session.execute(select(Admin.id, Admin.email).where(Admin.id.not_in(opted_out)))]
    queue_copies("admin_alert", recipients, language=organization_language(), values=values)
    return alert_id


def check_expiry(now: datetime) -> None:
    for thing in EXPIRING:
        not_after = thing.not_after()
        if not_after is None:
            continue
        days_left = math.ceil((not_after - now).total_seconds() / 86400)
        crossed = [t for t in THRESHOLDS if days_left <= t]
        if not crossed:
            continue
        threshold = min(crossed)  # found late (at 5 days left): the 7-day alert, not the 30-day one as well
        when = "has expired" if days_left <= 0 else f"expires in {days_left} day{'s' if days_left != 1 else ''}"
        raise_alert("expiry", f"expiry:{thing.name}:{not_after.isoformat()}:{threshold}",
                    f"{thing.label} {when} ({not_after:%Y-%m-%d}).",
                    {"thing": thing.name, "not_after": not_after.isoformat(), "threshold_days": threshold}, now)


def check_apns_refused(now: datetime) -> None:
    alert = get_setting(APNS_ALERT_KEY)
    if isinstance(alert, dict) and alert.get("at"):
        raise_alert("apns_refused", f"apns_refused:{alert['at']}",
                    f"Apple refused the push certificate ({str(alert.get('reason'))[:80]}): devices are not woken "
                    "until it is replaced.", {"reason": alert.get("reason"), "at": alert["at"]}, now)


def failure_counts(since: datetime) -> dict[str, int]:
    """SCEP refusals and account-driven refusals since ``since``, from the audit log."""
    scep = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "scep.refused", AuditEvent.at >= since))
    account_driven = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "enrollment.refused", AuditEvent.at >= since,
        AuditEvent.detail["method"].as_string() == "account_driven"))
    return {"scep": scep or 0, "account_driven": account_driven or 0}


def check_failures(now: datetime) -> None:
    threshold = get_setting(FAILURE_THRESHOLD_KEY, DEFAULT_FAILURE_THRESHOLD)
    hour = now.replace(minute=0, second=0, microsecond=0)
    labels = {"scep": "SCEP", "account_driven": "account-driven enrollment"}
    for name, count in failure_counts(now - timedelta(hours=1)).items():
        if count >= threshold:
            raise_alert("enrollment_failures", f"failures:{name}:{hour.isoformat()}",
                        f"{count} {labels[name]} failures in the last hour (threshold {threshold}).",
                        {"source": name, "count": count, "threshold": threshold}, now)


def check_offboarding(now: datetime) -> None:
    """Once a day while any offboarded person's phone has not answered its retirement within
    OFFBOARDING_ALERT_AFTER (the dashboard lists them)."""
    overdue = offboarding_summary(now)["overdue"]
    if overdue:
        hours = int(alert_after().total_seconds() // 3600)
        raise_alert("offboarding", f"offboarding:{now.date().isoformat()}",
                    f"{overdue} device{'s' if overdue != 1 else ''} of offboarded people did not answer their "
                    f"retirement within {hours} hours.", {"overdue": overdue, "after_hours": hours}, now)


def check_alerts(now: datetime | None = None) -> None:
    """Every condition, in one transaction. Commits."""
    now = now or utcnow()
    check_expiry(now)
    check_apns_refused(now)
    check_failures(now)
    check_offboarding(now)
    db.session.commit()


def open_alerts(limit: int = 20) -> list[AdminAlert]:
    """Alerts not dismissed, newest first (the dashboard)."""
    return list(db.session.scalars(select(AdminAlert).where(AdminAlert.dismissed_at.is_(None))
                                   .order_by(AdminAlert.raised_at.desc(), AdminAlert.id.desc()).limit(limit)))
