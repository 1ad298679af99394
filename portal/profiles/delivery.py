"""Delivery: due ``profile_states`` rows become InstallProfile and RemoveProfile commands.

Each command goes through ``remote_commands.send`` (the capability check, the queue, the push
outbox). The only per-device Python work is building the command: a profile without variables is
signed once per batch; one with variables is filled in (``mdm_core.profile_variables``) and signed
for each device. A variable without a value for a device fails that device's row with a clear
error, never the rollout. Run in bounded batches: by the request that changed the desired state, at
enrollment for the new device, and by the worker (``deliver_all``) for the rest and the retries.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from mdm_core import cms, mobileconfig, plist
from mdm_core.commands import install_profile, remove_profile
from mdm_core.profile_variables import device_values, find_variables, substitute
from mdm_core.user_identity import is_marked

from .. import audit
from ..database.batches import until_done
from ..models import Device, EndUser, Profile, ProfileState
from ..models.base import utcnow
from ..models.device import DeviceStatus
from ..models.profile import INSTALL, ProfileStatus
from ..pki import device_ca, profile_signer
from ..remote_commands import send
from ..user_identities import fill_identity_scep_payloads

BATCH = 200
SYSTEM_ACTOR = "system:profiles"
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=6)


def retry_at(attempts: int, now: datetime) -> datetime:
    """When a row that failed ``attempts`` times is tried again: 1 minute, doubling, at most 6 hours."""
    return now + min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16), LAST_RETRY)


def server_error_chain(message: str) -> list[dict[str, Any]]:
    """An error the server found itself (no device answered), in the shape of a device's ErrorChain."""
    return [{"ErrorDomain": "MDMServer", "ErrorCode": 0, "LocalizedDescription": message,
             "USEnglishDescription": message}]


def per_device_payloads(profile: Profile, device: Device, content: dict[str, Any]) -> dict[str, Any]:
    """The seam for per-device payload content beyond variables: the user identity CA fills in each
    device's SCEP challenge here. Returns ``content`` itself when nothing is per device (the batch then
    signs the profile once for every device)."""
    if not any(is_marked(payload) for payload in content.get("PayloadContent") or ()):
        return content
    return fill_identity_scep_payloads(content, device)


@dataclass
class _Prepared:
    """A profile read once per batch: its dictionary, whether it has variables, and its signed bytes once made."""

    content: dict[str, Any]
    has_variables: bool
    signed: bytes | None = None


def _due(now: datetime) -> Any:
    waiting = and_(ProfileState.last_command_uuid.is_(None),
                   ProfileState.status.in_((ProfileStatus.PENDING, ProfileStatus.REMOVING)))
    retry = and_(ProfileState.status == ProfileStatus.FAILED, ProfileState.next_attempt_at <= now)
    return or_(waiting, retry)


def deliver(session: Session, *, device_ids: Collection[int] | None = None,
            profile_ids: Collection[int] | None = None, limit: int = BATCH, now: datetime | None = None) -> int:
    """Queue the commands of up to ``limit`` due rows (of enrolled devices); returns how many rows were
    handled (queued or failed). The caller commits."""
    now = now or utcnow()
    statement = (select(ProfileState, Device).join(Device, Device.id == ProfileState.device_id)
                 .where(Device.status == DeviceStatus.ENROLLED, _due(now))
                 .order_by(ProfileState.profile_id, ProfileState.device_id).limit(limit)
                 # several workers (and requests) deliver at once on PostgreSQL: each takes rows no other holds
                 .with_for_update(of=ProfileState, skip_locked=True))
    if device_ids is not None:
        statement = statement.where(ProfileState.device_id.in_(device_ids))
    if profile_ids is not None:
        statement = statement.where(ProfileState.profile_id.in_(profile_ids))
    rows = session.execute(statement).all()
    if not rows:
        return 0
    profiles = {p.id: p for p in session.scalars(select(Profile).where(
        Profile.id.in_({state.profile_id for state, _ in rows})))}
    users = _users_without_link(session, [device for _, device in rows])
    prepared: dict[int, _Prepared] = {}
    failed = 0
    for state, device in rows:
        profile = profiles[state.profile_id]
        try:
            if state.operation == INSTALL:
                command = install_profile(_payload(profile, device, users, prepared))
            else:
                command = remove_profile(profile.identifier)
            queued = send(device, command, created_by=SYSTEM_ACTOR, audited=False)
        except (ValueError, TypeError, OverflowError) as exc:  # VariableError, CommandRefused; a value no plist holds
            _fail(state, str(exc), server_error_chain(str(exc)), now)
            failed += 1
            continue
        state.last_command_uuid = queued.command_uuid
        state.status = ProfileStatus.PENDING if state.operation == INSTALL else ProfileStatus.REMOVING
        if state.operation == INSTALL:
            state.revision = profile.revision
        state.updated_at = now
    audit.record("profile.delivered", actor_type="system", actor=SYSTEM_ACTOR,
                 detail={"queued": len(rows) - failed, "failed": failed})
    return len(rows)


def _fail(state: ProfileState, message: str, error_chain: list[dict[str, Any]], now: datetime) -> None:
    state.status = ProfileStatus.FAILED
    state.error, state.error_chain = message[:2000], error_chain
    state.attempts = (state.attempts or 0) + 1
    state.next_attempt_at = retry_at(state.attempts, now)
    state.last_command_uuid = None
    state.updated_at = now


def _users_without_link(session: Session, devices: list[Device]) -> dict[str, EndUser]:
    """Users by Managed Apple ID, for devices minted without a user row (through the API)."""
    wanted = {d.managed_apple_id for d in devices if d.user is None and d.managed_apple_id}
    if not wanted:
        return {}
    return {user.managed_apple_id: user for user in session.scalars(
        select(EndUser).where(EndUser.managed_apple_id.in_(wanted)).order_by(EndUser.last_login_at))}


def _payload(profile: Profile, device: Device, users: dict[str, EndUser], prepared: dict[int, _Prepared]) -> bytes:
    """The signed profile for one device."""
    ready = prepared.get(profile.id)
    if ready is None:
        content = mobileconfig.decode(profile.content).profile
        ready = prepared[profile.id] = _Prepared(content, bool(find_variables(content)))
    content = ready.content
    if ready.has_variables:
        user = device.user or users.get(device.managed_apple_id or "")
        content = substitute(content, device_values(
            managed_apple_id=device.managed_apple_id, email=user.email if user else None,
            full_name=user.name if user else None, enrollment_id=device.enrollment_id))
    personal = per_device_payloads(profile, device, content)
    if personal is ready.content and ready.signed is not None:
        return ready.signed
    signed = cms.sign(plist.dumps(personal), profile_signer(), extra_certs=[device_ca().certificate])
    if personal is ready.content:
        ready.signed = signed
    return signed


def signed_for(session: Session, profile: Profile, device: Device) -> bytes:
    """The signed profile as ``device`` gets it (a legacy-profile declaration serves it this way)."""
    return _payload(profile, device, _users_without_link(session, [device]), {})


def deliver_all(session: Session, now: datetime | None = None) -> int:
    """Deliver every due row, committing batch by batch (the worker's job); returns how many were handled."""
    return until_done(session, lambda: deliver(session, now=now), BATCH)
