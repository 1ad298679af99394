"""Everything the server keeps in a desired state per device (configuration profiles; managed apps and
declarations join the same list), and the events that move it: a device enrolls or ends, someone's
groups change (at sign-in, or from directory sync), and the worker's periodic pass.

Callers (check-in, sign-in, SCIM, the worker) call these functions and never a kind directly, so a
new kind of managed item is wired in by adding its module to ``KINDS``. Each module provides
``devices_changed(session, device_ids, now=None)``, ``people_changed(session, device_ids)`` (the values
their copies are filled in with changed), ``enrollment_ended(session, device_id)`` and
``reconcile_and_deliver(session, now=None) -> int`` and ``deliver_due(session, now=None) -> int`` (queue
what is already due, bounded per call: the worker runs it every second so a large rollout never waits for
the next reconciling pass).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from .extensions import db
from .apps import triggers as apps
from .declarations import triggers as declarations
from .models import Device, EndUser
from .profiles import triggers as profiles
from .scope.groups import SIGN_IN, sync_memberships

#: Declarations first: a profile delivered as a legacy-profile declaration is then left out of InstallProfile.
KINDS = (declarations, profiles, apps)


def devices_changed(session: Session, device_ids: Select | Collection[int], now: datetime | None = None) -> None:
    """What decides these devices' scope changed: each kind reconciles them and queues their commands.
    The caller commits."""
    for kind in KINDS:
        kind.devices_changed(session, device_ids, now=now)


def enrollment_ended(session: Session, device_id: int) -> None:
    for kind in KINDS:
        kind.enrollment_ended(session, device_id)


def users_changed(session: Session, user_ids: Iterable[int], now: datetime | None = None) -> None:
    """These people's groups, standing or Managed Apple ID changed: re-scope every device they own, the ones
    linked to them (enrolled with an ID they held before, too) and the ones carrying their ID. The caller commits."""
    ids = sorted(set(user_ids))
    if ids:
        owners = select(EndUser.managed_apple_id).where(EndUser.id.in_(ids))
        owned = or_(Device.user_id.in_(ids), Device.managed_apple_id.in_(owners))
        devices_changed(session, select(Device.id).where(owned), now=now)


def values_changed(session: Session, user_ids: Iterable[int]) -> None:
    """These people's name, e-mail or Managed Apple ID changed: what is filled in with them is sent again to their
    devices where a value it uses changed (profiles, app configurations, declarations' server tokens; the worker
    delivers them). The caller commits."""
    ids = sorted(set(user_ids))
    if ids:
        owners = select(EndUser.managed_apple_id).where(EndUser.id.in_(ids))
        devices = select(Device.id).where(or_(Device.user_id.in_(ids), Device.managed_apple_id.in_(owners)))
        for kind in KINDS:
            kind.people_changed(session, devices)


def memberships_synced(session: Session, user: EndUser, groups: Iterable[str], source: str = SIGN_IN) -> bool:
    """Make ``user``'s memberships from ``source`` exactly ``groups`` and re-scope their devices if that
    changed anything; True when it did. The caller commits."""
    changed = sync_memberships(session, user, groups, source=source)
    if changed:
        users_changed(session, [user.id])
    return changed


def signed_in(user: EndUser, groups: list[str], renamed: bool) -> None:
    """The sign-in hook: the IdP's groups claim renews the person's sign-in memberships, and the claims may have
    renewed their name, e-mail or Managed Apple ID (``renamed``; an unchanged sign-in marks no device stale)."""
    memberships_synced(db.session, user, groups)
    if renamed:
        values_changed(db.session, [user.id])


def reconcile_and_deliver(session: Session, now: datetime | None = None) -> int:
    """The worker's pass over every kind; returns how many rows were handled."""
    return sum(kind.reconcile_and_deliver(session, now=now) for kind in KINDS)


def deliver_due(session: Session, now: datetime | None = None) -> int:
    """The worker's frequent job over every kind: queue the commands already due; returns how many rows were handled."""
    return sum(kind.deliver_due(session, now=now) for kind in KINDS)
