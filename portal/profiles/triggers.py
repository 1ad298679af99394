"""Configuration profiles' part in ``portal.desired_state``: when scope changes outside the profile API
(an enrollment, someone's groups, an enrollment that ended), the worker's periodic pass (smart
groups follow inventory and time, so the worker reconciles everything now and then) and its frequent
delivery of rows already due (the rest of a large rollout, retries)."""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy.orm import Session

from .delivery import deliver, deliver_all
from .desired import forget_device, reconcile, values_changed


def devices_changed(session: Session, device_ids: Select | Collection[int], now: datetime | None = None) -> None:
    """What decides these devices' scope changed: reconcile them, and queue their commands (one batch;
    the worker queues any rest). The caller commits."""
    reconcile(session, device_ids=device_ids, now=now)
    deliver(session, device_ids=device_ids, now=now)


def people_changed(session: Session, device_ids: Select) -> None:
    """The people's values these devices' copies are filled in with changed: what used a changed one is sent
    again (the worker's frequent delivery queues it)."""
    values_changed(session, device_ids)


def enrollment_ended(session: Session, device_id: int) -> None:
    forget_device(session, device_id)


def reconcile_and_deliver(session: Session, now: datetime | None = None) -> int:
    """The worker's job: reconcile every profile on every device, then deliver whatever is due
    (new rows and retries), committing batch by batch. Returns how many rows were handled."""
    reconcile(session, now=now)
    session.commit()
    return deliver_all(session, now=now)


#: Batches the worker's frequent delivery queues per round: pushes for them go out before the next round.
ROUND_BATCHES = 5


def deliver_due(session: Session, now: datetime | None = None) -> int:
    """The worker's frequent job: queue the commands of rows already due, without reconciling, a bounded
    number of batches a round. Returns how many rows were handled."""
    return deliver_all(session, now=now, max_batches=ROUND_BATCHES)
