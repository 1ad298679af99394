"""Scheduled inventory: which devices are due, and queueing one inventory round.

Run by the background worker (``flask --app wsgi worker``) or ``flask --app wsgi inventory-sweep``
(cron, a timer), never by a web worker. Devices are taken in batches so a sweep of a large fleet
holds no long transaction, each batch locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL): sweeps
running at once on several workers queue each device's round once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select

from mdm_core.commands import inventory_commands

from .. import audit
from ..extensions import db
from ..models import Device
from ..models.base import utcnow
from ..models.device import DeviceStatus
from ..remote_commands import enqueue
from ..settings_store import get_setting

DEFAULT_INTERVAL_HOURS = 24
DEFAULT_STALE_AFTER_DAYS = 14
SYSTEM_ACTOR = "system:inventory"
BATCH = 500


def interval() -> timedelta:
    return timedelta(hours=get_setting("inventory_interval_hours", DEFAULT_INTERVAL_HOURS))


def stale_after() -> timedelta:
    return timedelta(days=get_setting("stale_after_days", DEFAULT_STALE_AFTER_DAYS))


def queue_inventory(device: Device, *, created_by: str = SYSTEM_ACTOR, audited: bool = False,
                    now: datetime | None = None) -> list[str]:
    """Queue one inventory round for ``device``; returns the command UUIDs. The caller commits."""
    device.inventory_requested_at = now or utcnow()
    return [enqueue(device, command, created_by=created_by, audited=audited).command_uuid
            for command in inventory_commands(device.enrollment_type)]


def run_sweep(now: datetime | None = None) -> int:
    """Queue inventory for every enrolled device whose last round is older than the interval."""
    now = now or utcnow()
    due_before = now - interval()
    total = 0
    while True:
        devices = db.session.scalars(
            select(Device).where(Device.status == DeviceStatus.ENROLLED,
                                 or_(Device.inventory_requested_at.is_(None), Device.inventory_requested_at < due_before))
            .order_by(Device.id).limit(BATCH).with_for_update(of=Device, skip_locked=True)
        ).all()
        if not devices:
            break
        for device in devices:
            queue_inventory(device, now=now)
        total += len(devices)
        db.session.commit()
    if total:
        audit.record("inventory.sweep", actor_type="system", actor=SYSTEM_ACTOR, detail={"devices": total})
        db.session.commit()
    return total
