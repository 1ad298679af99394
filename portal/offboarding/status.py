"""Offboardings in progress, for the dashboard and the people pages."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import Device, EndUser, EnrollmentRetirement
from ..models.base import utcnow
from ..models.device import DeviceStatus


@dataclass(frozen=True)
class Overdue:
    device: Device
    user: EndUser
    started_at: datetime


def alert_after() -> timedelta:
    return timedelta(hours=current_app.config.get("OFFBOARDING_ALERT_AFTER", 24))


def _retiring():
    return (select(EnrollmentRetirement, Device, EndUser).join(Device, Device.id == EnrollmentRetirement.device_id)
            .join(EndUser, EndUser.id == EnrollmentRetirement.user_id).where(Device.status == DeviceStatus.ENROLLED))


def summary(now: datetime | None = None) -> dict[str, int]:
    """People with an enrollment still retiring, enrollments retiring, and those past the alert time."""
    cutoff = (now or utcnow()) - alert_after()
    row = db.session.execute(
        select(func.count(func.distinct(EnrollmentRetirement.user_id)), func.count(),
               func.count().filter(EnrollmentRetirement.started_at < cutoff))
        .join(Device, Device.id == EnrollmentRetirement.device_id).where(Device.status == DeviceStatus.ENROLLED)).one()
    return {"people": row[0], "enrollments": row[1], "overdue": row[2]}


def overdue(now: datetime | None = None, limit: int = 20) -> list[Overdue]:
    """The oldest retiring enrollments whose phone has not answered within OFFBOARDING_ALERT_AFTER."""
    cutoff = (now or utcnow()) - alert_after()
    rows = db.session.execute(_retiring().where(EnrollmentRetirement.started_at < cutoff)
                              .order_by(EnrollmentRetirement.started_at).limit(limit)).all()
    return [Overdue(device, user, retirement.started_at) for retirement, device, user in rows]


def retiring_device_ids(user_id: int) -> set[int]:
    return set(db.session.scalars(select(EnrollmentRetirement.device_id).join(Device, Device.id == EnrollmentRetirement.device_id)
                                  .where(EnrollmentRetirement.user_id == user_id, Device.status == DeviceStatus.ENROLLED)))
