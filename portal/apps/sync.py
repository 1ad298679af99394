"""The worker's Apps and Books job: claim the location, sync the catalogue, register people, associate
and release licenses, and follow the service's events; never inside a device's request.

Each step reads its queue from the database (``app_users``, ``app_licenses``), calls the service in
batches no larger than its service config allows, and commits what it submitted with the event ids;
the next run polls those events. A refused call changes nothing: on 429 the token row records
``Retry-After`` and nothing is called before then; on an expired token the dashboard says so and the
job waits for a new one; any other service error is recorded and the same work is tried at the next run.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mdm_core.vpp.client import NOT_ENOUGH_LICENSES, VppClient, VppError, VppRateLimited, VppTokenExpired

from ..models import App, AppLicense, AppUser
from ..models.app import LicenseStatus
from ..models.base import utcnow
from .catalogue import sync_assets
from .licenses import mark_waiting, reconcile_licenses
from .tokens import claim_location, client_for, current_token

log = logging.getLogger(__name__)
ASSET_SYNC_EVERY = timedelta(minutes=5)


def run(session: Session, *, client: VppClient | None = None, now: datetime | None = None,
        sync_catalogue: bool | None = None) -> dict[str, int]:
    """One pass; returns what it did (for logs and tests). ``client`` for tests and benchmarks."""
    now = now or utcnow()
    reconcile_licenses(session, now)
    session.commit()
    row = current_token(session)
    done: dict[str, int] = defaultdict(int)
    if row is None or row.other_server or row.expired_at is not None or row.expires_at <= now \
            or (row.not_before is not None and row.not_before > now):
        return done
    client = client or _kept_client(row)
    try:
        if row.claimed_at is None:
            if not claim_location(session, row, client).claimed:
                session.commit()
                return done
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
    return done


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
    """Register the people not yet known to the service, one batch per call."""
    size = client.service_config().limit("maxUsers")
    pending = list(session.scalars(select(AppUser).where(AppUser.status == "pending").order_by(AppUser.id)))
    for start in range(0, len(pending), size):
        batch = pending[start:start + size]
        [event_id] = client.create_users([{"clientUserId": u.client_user_id, "managedAppleId": u.managed_apple_id,
                                           "email": u.managed_apple_id} for u in batch])
        for user in batch:
            user.status, user.event_id, user.updated_at = "registering", event_id, now
        session.commit()
    return len(pending)


def _associate(session: Session, client: VppClient, now: datetime) -> int:
    """Associate the wanted licenses of registered people, never more than the app has available:
    the rest wait as ``no_license`` (and are tried again when the counts change)."""
    size = client.service_config().limit("maxClientUserIds")
    wanted = session.execute(
        select(AppLicense, AppUser.client_user_id).join(AppUser, AppUser.id == AppLicense.app_user_id)
        .where(AppLicense.status.in_((LicenseStatus.WANTED, LicenseStatus.NO_LICENSE)), AppUser.status == "registered")
        .order_by(AppLicense.app_id, AppLicense.app_user_id)).all()
    by_app: dict[int, list] = defaultdict(list)
    for license_, client_user_id in wanted:
        by_app[license_.app_id].append((license_, client_user_id))
    submitted = 0
    for app_id, rows in by_app.items():
        app = session.get(App, app_id)
        if not app.in_service:
            continue
        room = max(app.licenses_available, 0)
        for license_, _ in rows[room:]:
            license_.status, license_.updated_at = LicenseStatus.NO_LICENSE, now
        rows = rows[:room]
        for start in range(0, len(rows), size):
            batch = rows[start:start + size]
            [event_id] = client.associate_assets([(app.adam_id, app.pricing_param)], [cid for _, cid in batch])
            for license_, _ in batch:
                license_.status, license_.event_id, license_.updated_at = LicenseStatus.ASSOCIATING, event_id, now
            app.licenses_available -= len(batch)
            app.licenses_assigned += len(batch)
            submitted += len(batch)
            session.commit()
    mark_waiting(session, now)
    session.commit()
    return submitted


def _release(session: Session, client: VppClient, now: datetime) -> int:
    """Disassociate the licenses nobody's device needs any more."""
    size = client.service_config().limit("maxClientUserIds")
    rows = session.execute(
        select(AppLicense, AppUser.client_user_id, App).join(AppUser, AppUser.id == AppLicense.app_user_id)
        .join(App, App.id == AppLicense.app_id).where(AppLicense.status == LicenseStatus.RELEASING)
        .order_by(AppLicense.app_id)).all()
    by_app: dict[int, list] = defaultdict(list)
    for license_, client_user_id, app in rows:
        by_app[app.id].append((license_, client_user_id, app))
    for batch_rows in by_app.values():
        app = batch_rows[0][2]
        for start in range(0, len(batch_rows), size):
            batch = batch_rows[start:start + size]
            [event_id] = client.disassociate_assets([(app.adam_id, app.pricing_param)], [cid for _, cid, _ in batch])
            for license_, _, _ in batch:
                license_.status, license_.event_id, license_.updated_at = LicenseStatus.DISASSOCIATING, event_id, now
            session.commit()
    return len(rows)


def _poll(session: Session, client: VppClient, now: datetime) -> int:
    """Ask the service once about each event still under way, and apply the finished ones."""
    users = session.scalars(select(AppUser.event_id).where(AppUser.status == "registering").distinct()).all()
    licenses = session.scalars(select(AppLicense.event_id).where(AppLicense.status.in_(
        (LicenseStatus.ASSOCIATING, LicenseStatus.DISASSOCIATING))).distinct()).all()
    finished = 0
    for event_id in users:
        status = client.event_status(event_id)
        if not status.done:
            continue
        failed = status.failed_client_user_ids
        for user in session.scalars(select(AppUser).where(AppUser.event_id == event_id,
                                                           AppUser.status == "registering")):
            user.status = "pending" if user.client_user_id in failed else "registered"
            user.error = "the service refused the registration" if user.client_user_id in failed else None
            user.updated_at = now
        finished += 1
        session.commit()
    applied = False
    for event_id in licenses:
        status = client.event_status(event_id)
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


def _apply_license_event(session: Session, event_id: str, status, now: datetime) -> None:
    rows = session.execute(select(AppLicense, AppUser.client_user_id).join(AppUser, AppUser.id == AppLicense.app_user_id)
                           .where(AppLicense.event_id == event_id)).all()
    no_license, failed = status.failed_for(NOT_ENOUGH_LICENSES), status.failed_client_user_ids
    released: Counter[int] = Counter()
    for license_, client_user_id in rows:
        if license_.status == LicenseStatus.DISASSOCIATING:
            if client_user_id in failed:
                license_.status = LicenseStatus.RELEASING  # tried again at the next run
            else:
                session.delete(license_)
                released[license_.app_id] += 1
            continue
        if client_user_id in no_license:
            license_.status, license_.error = LicenseStatus.NO_LICENSE, "no license left"
        elif client_user_id in failed:
            license_.status, license_.error = LicenseStatus.WANTED, "the service refused the association"
        else:
            license_.status, license_.error = LicenseStatus.ASSOCIATED, None
        license_.updated_at = now
    for app_id, count in released.items():  # one update per app (an event concerns one), not per license
        session.execute(update(App).where(App.id == app_id).values(
            licenses_available=App.licenses_available + count, licenses_assigned=App.licenses_assigned - count))
    session.flush()
