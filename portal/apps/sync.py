"""The worker's Apps and Books job: claim the location, sync the catalogue, register people, associate
and release licenses, and follow the service's events; never inside a device's request.

Each step reads its queue from the database (``app_users``, ``app_licenses``), calls the service in
batches no larger than its service config allows, and commits what it submitted with the event ids;
the next run polls those events. A refused call changes nothing: on 429 the token row records
``Retry-After`` and nothing is called before then; on an expired token the dashboard says so and the
job waits for a new one; any other service error is recorded and the same work is tried at the next run.
An event the service no longer knows (or answers about with no usable status) counts as failed for everyone in it.
A person or a license a finished event refused is retried as the apps' other failures are: from one minute
later, doubling to six hours, with Apple's reason kept (``error``) and shown on the person's devices' rows.
The event's outcome is written set-based (a statement for those it succeeded for, one row per refusal).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mdm_core.vpp.client import (NOT_ENOUGH_LICENSES, EventFailure, EventStatus, VppClient, VppError,
                                 VppRateLimited, VppTokenExpired, chunks)

from ..models import App, AppLicense, AppUser
from ..models.app import LicenseStatus
from ..models.base import utcnow
from ..profiles.delivery import retry_at
from . import lease
from .catalogue import sync_assets
from .licenses import mark_waiting, reconcile_licenses
from .tokens import TOKEN_ROW, claim_location, client_for, current_token

log = logging.getLogger(__name__)
ASSET_SYNC_EVERY = timedelta(minutes=5)
USER_EXISTS = 9716  # "A registered user already exists with the specified clientUserId": registered already
USER_NOT_FOUND = 9609  # "Unable to find the registered user"
EVENT_NOT_FOUND = 9708  # "EventId could not be found"
_users = AppUser.__table__
_licenses = AppLicense.__table__


def run(session: Session, *, client: VppClient | None = None, now: datetime | None = None,
        sync_catalogue: bool | None = None) -> dict[str, int]:
    """One pass; returns what it did (for logs and tests), ``{"busy": 1}`` when another (another node's pass, an
    admin's "sync now") is calling the service: two would associate the same licenses. ``client`` for tests and
    benchmarks."""
    now = now or utcnow()
    reconcile_licenses(session, now)
    session.commit()
    if current_token(session) is None:
        return {}
    held = lease.take(session, TOKEN_ROW)
    if held is None:
        return {"busy": 1}
    done: dict[str, int] = defaultdict(int)
    try:
        _calls(session, client, now, sync_catalogue, held, done)
    except lease.LeaseLost as exc:
        log.warning("apps and books sync stopped: %s", exc)
    finally:
        session.rollback()  # whatever a failure left: the lease is given back in a transaction of its own
        _give_back(held)
    return done


def _give_back(held: lease.Lease) -> None:
    """Give the lease back; when the database cannot take it (it went away), log it and let the lease expire, so
    the error that ended the job, if any, is the one raised."""
    try:
        held.give_back()
    except SQLAlchemyError as exc:
        held.session.rollback()
        log.warning("apps and books lease left to expire: %s", exc.__class__.__name__)


def _calls(session: Session, client: VppClient | None, now: datetime, sync_catalogue: bool | None,
           held: lease.Lease, done: dict[str, int]) -> None:
    row = current_token(session)
    if row is None or row.other_server or row.expired_at is not None or row.expires_at <= now \
            or (row.not_before is not None and row.not_before > now):
        return
    client = lease.LeasedClient(client or _kept_client(row), held)
    try:
        if row.claimed_at is None:
            if not claim_location(session, row, client).claimed:
                session.commit()
                return
            session.commit()
        if sync_catalogue or (sync_catalogue is None and (row.last_sync_at is None
                                                           or row.last_sync_at <= now - ASSET_SYNC_EVERY)):
            done["assets"] = sync_assets(session, client.assets())
            row.last_sync_at = now
            session.commit()
        done["events"] = _poll(session, client, now)
        done["registered"] = _register(session, client, now)
        done["events"] += _poll(session, client, now)  # registrations done at once can get licenses now
        done["associated"] = _associate(session, client, now)
        done["released"] = _release(session, client, now)
        done["events"] += _poll(session, client, now)
        row.last_error = None
        session.commit()
    except VppRateLimited as exc:
        session.rollback()
        row.not_before, row.last_error = now + timedelta(seconds=max(exc.retry_after, 1)), f"rate limited: {exc}"
        session.commit()
    except VppTokenExpired as exc:
        session.rollback()
        row.expired_at, row.last_error = now, f"the service refused the token: {exc}"
        session.commit()
    except VppError as exc:
        session.rollback()
        row.last_error = f"the Apps and Books service failed: {exc}"[:2000]
        session.commit()
        log.warning("apps and books sync failed: %s", exc)


_clients: dict[tuple[str, bytes], VppClient] = {}


def _kept_client(row) -> VppClient:
    """One client per process and token, kept between passes: its service config (limits, URLs) is read
    once every five minutes, as Apple asks, not at every pass; a new token gets a new client."""
    key = (current_app.config["VPP_ENDPOINT"], bytes(row.sealed_token))
    client = _clients.get(key)
    if client is None:
        for old in _clients.values():
            old.close()
        _clients.clear()
        client = _clients[key] = client_for(row, max_attempts=2, max_wait=2.0)  # a longer wait is the next pass's
    return client


def _register(session: Session, client: VppClient, now: datetime) -> int:
    """Register the people not yet known to the service (and those refused earlier whose retry is due),
    one batch per call."""
    size = client.service_config().limit("maxUsers")
    pending = session.execute(select(AppUser.id, AppUser.client_user_id, AppUser.managed_apple_id)
                              .where(AppUser.status == "pending", _due(AppUser, now)).order_by(AppUser.id)).all()
    for batch in chunks(pending, size):
        [event_id] = client.create_users([{"clientUserId": cid, "managedAppleId": apple_id, "email": apple_id}
                                          for _, cid, apple_id in batch])
        session.execute(update(_users).where(_users.c.id.in_([user_id for user_id, _, _ in batch]))
                        .values(status="registering", event_id=event_id, updated_at=now))
        session.commit()
    return len(pending)


def _associate(session: Session, client: VppClient, now: datetime) -> int:
    """Associate the wanted licenses of registered people, never more than the app has available:
    the rest wait as ``no_license`` (and are tried again when the counts change)."""
    size = client.service_config().limit("maxClientUserIds")
    wanted = session.execute(
        select(AppLicense.app_id, AppLicense.app_user_id, AppUser.client_user_id)
        .join(AppUser, AppUser.id == AppLicense.app_user_id)
        .where(AppLicense.status.in_((LicenseStatus.WANTED, LicenseStatus.NO_LICENSE)), AppUser.status == "registered",
               _due(AppLicense, now))
        .order_by(AppLicense.app_id, AppLicense.app_user_id)).all()
    by_app: dict[int, list] = defaultdict(list)
    for app_id, app_user_id, client_user_id in wanted:
        by_app[app_id].append((app_user_id, client_user_id))
    submitted = 0
    for app_id, rows in by_app.items():
        app = session.get(App, app_id)
        if not app.in_service:
            continue
        room = max(app.licenses_available, 0)
        for batch in chunks(rows[room:], size):
            session.execute(update(_licenses).where(_licenses.c.app_id == app_id, _of(batch))
                            .values(status=LicenseStatus.NO_LICENSE, updated_at=now))
        session.commit()  # before Apple is asked: its rows are not held locked through the call
        for batch in chunks(rows[:room], size):
            [event_id] = client.associate_assets([(app.adam_id, app.pricing_param)], [cid for _, cid in batch])
            session.execute(update(_licenses).where(_licenses.c.app_id == app_id, _of(batch))
                            .values(status=LicenseStatus.ASSOCIATING, event_id=event_id, updated_at=now))
            app.licenses_available -= len(batch)
            app.licenses_assigned += len(batch)
            submitted += len(batch)
            session.commit()
    mark_waiting(session, now)
    session.commit()
    return submitted


def _due(model, now: datetime):
    """Not refused, or refused and its retry is due."""
    return or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now)


def _of(batch: list[tuple[int, str]]):
    """The license rows of these ``(app_user_id, client_user_id)``."""
    return _licenses.c.app_user_id.in_([app_user_id for app_user_id, _ in batch])


def _release(session: Session, client: VppClient, now: datetime) -> int:
    """Disassociate the licenses nobody's device needs any more (those refused before once their retry is due)."""
    size = client.service_config().limit("maxClientUserIds")
    rows = session.execute(
        select(AppLicense.app_id, AppLicense.app_user_id, AppUser.client_user_id)
        .join(AppUser, AppUser.id == AppLicense.app_user_id)
        .where(AppLicense.status == LicenseStatus.RELEASING, _due(AppLicense, now)).order_by(AppLicense.app_id)).all()
    by_app: dict[int, list] = defaultdict(list)
    for app_id, app_user_id, client_user_id in rows:
        by_app[app_id].append((app_user_id, client_user_id))
    for app_id, app_rows in by_app.items():
        app = session.get(App, app_id)
        for batch in chunks(app_rows, size):
            [event_id] = client.disassociate_assets([(app.adam_id, app.pricing_param)], [cid for _, cid in batch])
            session.execute(update(_licenses).where(_licenses.c.app_id == app_id, _of(batch))
                            .values(status=LicenseStatus.DISASSOCIATING, event_id=event_id, updated_at=now))
            session.commit()
    return len(rows)


def _poll(session: Session, client: VppClient, now: datetime) -> int:
    """Ask the service once about each event still under way, and apply the finished ones."""
    users = session.scalars(select(AppUser.event_id).where(AppUser.status == "registering").distinct()).all()
    licenses = session.scalars(select(AppLicense.event_id).where(AppLicense.status.in_(
        (LicenseStatus.ASSOCIATING, LicenseStatus.DISASSOCIATING))).distinct()).all()
    if users or licenses:
        client.service_config()  # here, so that its failure is the service's, not taken for an event's below
    finished = 0
    for event_id in users:
        status = _event_status(client, event_id)
        if not status.done:
            continue
        _apply_registrations(session, event_id, status, now)
        finished += 1
        session.commit()
    applied = False
    for event_id in licenses:
        status = _event_status(client, event_id)
        if not status.done:
            continue
        _apply_license_event(session, event_id, status, now)
        finished += 1
        applied = True
        session.commit()
    if applied:  # once for every event applied (a failed pass leaves it to the next reconcile_licenses)
        mark_waiting(session, now)
        session.commit()
    return finished


def _event_status(client: VppClient, event_id: str) -> EventStatus:
    """The event's status; FAILED for everyone in it when the service no longer knows it (9708) or answers about
    it with no usable status, so its rows are tried again with backoff instead of failing every pass. Other errors
    (rate limit, token, service down) end the pass as any call's do."""
    try:
        return client.event_status(event_id)
    except (VppRateLimited, VppTokenExpired):
        raise
    except VppError as exc:
        malformed = not exc.retryable and (exc.status is None or 200 <= exc.status < 300)
        if exc.code != EVENT_NOT_FOUND and not malformed:
            raise
        log.warning("apps and books event %s taken as failed: %s", event_id, exc)
        return EventStatus("FAILED", [EventFailure(exc.code, f"no status for its event: {exc.message}")], {})


def _refusals(status: EventStatus, ignore: frozenset[int] = frozenset()) -> tuple[dict[str, str], str | None]:
    """Whom a finished event failed for, with Apple's words: ``({clientUserId: reason}, reason for everyone)``;
    the second is set when the event failed without naming anyone. Failures with a code in ``ignore`` are not
    refusals."""
    by_user: dict[str, str] = {}
    everyone = None
    for failure in status.failures:
        if failure.code in ignore:
            continue
        reason = failure.message[:300] or "refused"
        reason += f" (errorNumber {failure.code})" if failure.code is not None else ""
        for cid in failure.client_user_ids:
            by_user.setdefault(cid, reason)
        if not failure.client_user_ids:
            everyone = everyone or reason
    return by_user, everyone


def _retry_later(row: AppUser | AppLicense, status: str, message: str, now: datetime) -> None:
    """A refusal as the apps' other failures are recorded: the reason shown, tried again from ``retry_at``
    (one minute, doubling, at most six hours)."""
    row.status, row.error, row.updated_at = status, message[:2000], now
    row.attempts = (row.attempts or 0) + 1
    row.next_attempt_at = retry_at(row.attempts, now)


def _refused_rows(session: Session, rows, refused: dict[str, str], everyone: str | None) -> list[tuple]:
    """``(row, client_user_id, reason)`` of the rows (a select of ``(model, client_user_id)``) the service refused."""
    if not refused and everyone is None:
        return []
    if everyone is None:
        rows = rows.where(AppUser.client_user_id.in_(refused))
    return [(row, cid, refused.get(cid) or everyone) for row, cid in session.execute(rows)]


def _apply_registrations(session: Session, event_id: str, status: EventStatus, now: datetime) -> None:
    """A finished registration: the refused people wait for their retry (the reason shown on their devices'
    rows), the others are registered; ``9716`` (this clientUserId is registered already) is a registration."""
    refused, everyone = _refusals(status, ignore=frozenset({USER_EXISTS}))
    mine = select(AppUser, AppUser.client_user_id).where(AppUser.event_id == event_id,
                                                         AppUser.status == "registering")
    for user, _, reason in _refused_rows(session, mine, refused, everyone):
        _retry_later(user, "pending", f"the Apps and Books service refused to register this person: {reason}", now)
    session.flush()
    session.execute(update(_users).where(_users.c.event_id == event_id, _users.c.status == "registering")
                    .values(status="registered", error=None, attempts=0, next_attempt_at=None, updated_at=now))


def _apply_license_event(session: Session, event_id: str, status: EventStatus, now: datetime) -> None:
    """A finished association or disassociation, set-based but for the refused: a 9709 (none left after all)
    waits as ``no_license``, another refused association or release is retried with backoff; then the rest of
    the event's rows succeeded."""
    refused, everyone = _refusals(status)
    no_license = status.failed_for(NOT_ENOUGH_LICENSES)
    mine = select(AppLicense, AppUser.client_user_id).join(AppUser, AppUser.id == AppLicense.app_user_id) \
        .where(AppLicense.event_id == event_id)
    for license_, cid, reason in _refused_rows(session, mine, refused, everyone):
        if license_.status == LicenseStatus.DISASSOCIATING:
            _retry_later(license_, LicenseStatus.RELEASING, f"the Apps and Books service refused the release: "
                                                            f"{reason}", now)
        elif license_.status == LicenseStatus.ASSOCIATING and cid in no_license:
            license_.status, license_.error, license_.updated_at = LicenseStatus.NO_LICENSE, "no license left", now
        elif license_.status == LicenseStatus.ASSOCIATING:
            _retry_later(license_, LicenseStatus.WANTED, f"the Apps and Books service refused the association: "
                                                         f"{reason}", now)
    unknown = status.failed_for(USER_NOT_FOUND)
    if unknown:  # the service no longer knows the person: registered again at the next run, before the retry
        session.execute(update(_users).where(_users.c.client_user_id.in_(unknown), _users.c.status == "registered")
                        .values(status="pending", updated_at=now))
    session.flush()
    of_event = _licenses.c.event_id == event_id
    session.execute(update(_licenses).where(of_event, _licenses.c.status == LicenseStatus.ASSOCIATING).values(
        status=LicenseStatus.ASSOCIATED, error=None, attempts=0, next_attempt_at=None, updated_at=now))
    released = session.execute(select(_licenses.c.app_id, func.count()).where(
        of_event, _licenses.c.status == LicenseStatus.DISASSOCIATING).group_by(_licenses.c.app_id)).all()
    session.execute(delete(_licenses).where(of_event, _licenses.c.status == LicenseStatus.DISASSOCIATING))
    for app_id, count in released:  # one update per app (an event concerns one), not per license
        session.execute(update(App).where(App.id == app_id).values(
            licenses_available=App.licenses_available + count, licenses_assigned=App.licenses_assigned - count))
    session.flush()
