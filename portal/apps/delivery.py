"""Delivery: due ``app_states`` rows become InstallApplication, Settings (a new configuration) and
RemoveApplication commands, and installs the device accepted are checked with ManagedApplicationList.

Every command goes through ``remote_commands.CommandBatch``, as the profiles' do (the capability
check, then the queue and the push outbox, one statement each for the batch), so nothing User
Enrollment forbids is ever queued. An App Store app goes to a device only once the person holds the
app's license (``licenses.licensed``), and an app with a per-app VPN only to a device that has the VPN
profile installed (``vpn_ready``); until then the row waits. Batches are bounded, as for
profiles; rows are claimed with ``SKIP LOCKED`` on PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from mdm_core import queue
from mdm_core.managed_apps import configure_app, install_app, list_apps, remove_app

from .. import audit
from ..database.batches import until_done
from ..models import App, AppState, Command, Device, ProfileState
from ..models.app import AppStatus
from ..models.base import utcnow
from ..models.device import DeviceStatus
from ..models.profile import INSTALL, ProfileStatus
from ..person_values import BatchValues, filled_digest
from ..profiles.delivery import record_failure, server_error_chain
from ..remote_commands import CommandBatch
from .configuration import for_device, load, variables_of
from .licenses import licensed

BATCH = 200
SYSTEM_ACTOR = "system:apps"
VERIFY_EVERY = timedelta(seconds=10)


def _due(now: datetime) -> Any:
    waiting = and_(AppState.last_command_uuid.is_(None), AppState.status.in_((AppStatus.PENDING, AppStatus.REMOVING)))
    retry = and_(AppState.status == AppStatus.FAILED, AppState.next_attempt_at <= now)
    # a new configuration for an install not yet confirmed (after a failure, at its retry time)
    unconfirmed = and_(AppState.last_command_uuid.is_(None), AppState.status == AppStatus.INSTALLING,
                       or_(AppState.next_attempt_at.is_(None), AppState.next_attempt_at <= now))
    may_go = or_(App.source != "vpp", AppState.operation != INSTALL, licensed())
    return and_(or_(waiting, retry, unconfirmed), may_go, vpn_ready())


def vpn_ready() -> Any:
    """An install whose app has a per-app VPN goes only to a device that has that VPN profile installed: its
    ``VPNUUID`` must name a VPN on the device (a profile deleted since, or not in the device's scope, keeps
    the row waiting; ``portal.apps.service.waiting_reasons`` says why). Removals and configuration updates
    of an app on the device go regardless."""
    installed = exists().where(ProfileState.profile_id == App.vpn_profile_id,
                               ProfileState.device_id == AppState.device_id, ProfileState.operation == INSTALL,
                               ProfileState.status == ProfileStatus.INSTALLED)
    return or_(App.vpn_uuid.is_(None), AppState.operation != INSTALL, AppState.identifier.isnot(None), installed)


def deliver(session: Session, *, device_ids: Collection[int] | None = None, app_ids: Collection[int] | None = None,
            limit: int = BATCH, now: datetime | None = None) -> int:
    """Queue the commands of up to ``limit`` due rows of enrolled devices; returns how many rows were
    handled. The caller commits."""
    now = now or utcnow()
    statement = (select(AppState, Device, App).join(Device, Device.id == AppState.device_id)
                 .join(App, App.id == AppState.app_id).where(Device.status == DeviceStatus.ENROLLED, _due(now))
                 .order_by(AppState.app_id, AppState.device_id).limit(limit)
                 .with_for_update(of=AppState, skip_locked=True))
    if device_ids is not None:
        statement = statement.where(AppState.device_id.in_(device_ids))
    if app_ids is not None:
        statement = statement.where(AppState.app_id.in_(app_ids))
    rows = session.execute(statement).all()
    if not rows:
        return 0
    values = BatchValues(session, [device.id for _, device, _ in rows])
    configurations: dict[int, tuple[dict | None, bool, str]] = {}
    batch = CommandBatch(created_by=SYSTEM_ACTOR)
    failed = 0
    for state, device, app in rows:
        if state.operation == INSTALL:  # the configuration tried, sent or not: a reconciliation sends it once more
            state.configuration_revision = app.configuration_revision  # only when it changes again
        try:
            command_uuid = batch.add(device, _command(state, device, app, values, configurations))
        except (ValueError, TypeError, OverflowError) as exc:  # VariableError, CommandRefused, no identifier
            record_failure(state, str(exc), server_error_chain(str(exc)), now,  # the profiles' rule: retried later
                           AppStatus.kept(state.status, AppStatus.FAILED))
            failed += 1
            continue
        state.last_command_uuid = command_uuid
        state.status = AppStatus.kept(state.status, AppStatus.PENDING if state.operation == INSTALL
                                      else AppStatus.REMOVING)
        state.updated_at = now
    batch.write()
    audit.record("app.delivered", actor_type="system", actor=SYSTEM_ACTOR,
                 detail={"queued": len(rows) - failed, "failed": failed})
    return len(rows)


def _command(state: AppState, device: Device, app: App, values: BatchValues,
             configurations: dict[int, tuple[dict | None, bool, str]]) -> dict:
    identifier = state.identifier or app.bundle_id
    if state.operation != INSTALL:
        if not identifier:
            raise ValueError("the app's bundle ID is unknown: enter it on the app's page to remove the app")
        return remove_app(identifier)
    if app.id not in configurations:  # read once per batch, as the profiles are
        # without a "$" (a variable or a $$ escape) filling it in would give every device the same copy
        configuration = load(app.configuration)
        configurations[app.id] = (configuration, configuration is not None and b"$" in bytes(app.configuration),
                                  variables_of(configuration))
    configuration, per_device, variables = configurations[app.id]
    # kept even when filling in fails: a value that arrives later sends it again (desired.values_changed)
    state.filled_with = filled_digest(values.of(device.id), variables) if variables else None
    if per_device:
        configuration = for_device(configuration, values.of(device.id))
    if state.identifier:  # on the device already: only the configuration changed
        return configure_app(state.identifier, configuration)
    source = {"itunes_store_id": int(app.adam_id)} if app.source == "vpp" else {"manifest_url": app.manifest_url}
    return install_app(**source, configuration=configuration, vpn_uuid=app.vpn_uuid,
                       remove_on_unenroll=app.remove_on_unenroll or device.enrollment_type == "user")


def verify(session: Session, *, limit: int = BATCH, now: datetime | None = None) -> int:
    """Ask the devices with installs under way (accepted, not yet reported managed) for those apps'
    status, one ManagedApplicationList per device; returns how many devices were asked (not while a new
    configuration waits to be sent: ``deliver`` sends it first, and the list would take its place). The caller
    commits."""
    now = now or utcnow()
    rows = session.execute(
        select(AppState, Device).join(Device, Device.id == AppState.device_id)
        .where(Device.status == DeviceStatus.ENROLLED, AppState.status == AppStatus.INSTALLING,
               AppState.identifier.isnot(None), AppState.updated_at <= now - VERIFY_EVERY,
               AppState.last_command_uuid.isnot(None), ~_unanswered())
        .order_by(AppState.device_id).limit(limit).with_for_update(of=AppState, skip_locked=True)).all()
    by_device: dict[int, tuple[Device, list[AppState]]] = {}
    for state, device in rows:
        by_device.setdefault(device.id, (device, []))[1].append(state)
    batch = CommandBatch(created_by=SYSTEM_ACTOR)
    for device, states in by_device.values():
        command_uuid = batch.add(device, list_apps(state.identifier for state in states))
        for state in states:
            state.last_command_uuid, state.updated_at = command_uuid, now
    batch.write()
    return len(by_device)


def _unanswered() -> Any:
    """The row's last command is still waiting for the device: asking again would only pile up lists it
    answers one by one (a fleet that takes longer than VERIFY_EVERY to wake had 90,000 queued for 10,000)."""
    return exists().where(Command.command_uuid == AppState.last_command_uuid,
                          Command.status.in_(sorted(queue.OPEN_STATUSES)))


def deliver_all(session: Session, now: datetime | None = None) -> int:
    """Deliver every due row and check the installs under way, committing batch by batch (the worker's
    job); returns how many rows and devices were handled. One ``now`` for the whole run: a device asked in
    its first batch must not come due again before its last (10,000 devices take longer than VERIFY_EVERY,
    and the worker sends no push until the job returns, so the phones could never answer)."""
    now = now or utcnow()
    return (until_done(session, lambda: deliver(session, now=now), BATCH)
            + until_done(session, lambda: verify(session, now=now), BATCH))
