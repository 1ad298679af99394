"""Delivery: due ``profile_states`` rows become InstallProfile and RemoveProfile commands.

Each command goes through ``remote_commands.CommandBatch`` (the capability check, then the queue and
the push outbox, one statement each for the batch). A profile is decoded and checked once per batch
and enrollment type (the verdict depends on its unsigned content: variables and the user identity's
SCEP values only fill in string values the checker accepted), so the only per-device Python work is
building the command: a profile without variables or identity payloads is signed once per batch; one
with them is filled in (``mdm_core.profile_variables``) and signed for each device. A variable
without a value for a device fails that device's row with a clear error, never the rollout. Run in bounded batches: by the request that changed the desired state, at
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
from mdm_core.capabilities import Problem
from mdm_core.commands import install_profile, remove_profile
from mdm_core.profile_check import profile_errors
from mdm_core.profile_variables import substitute
from mdm_core.user_identity import is_marked

from .. import audit
from ..database.batches import until_done
from ..models import Device, Profile, ProfileState
from ..models.base import utcnow
from ..models.device import DeviceStatus
from ..models.profile import INSTALL, ProfileStatus
from ..person_values import BatchValues, filled_digest
from ..pki import device_ca, profile_signer
from ..remote_commands import CommandBatch, CommandRefused
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
    """A profile read once per batch: its dictionary, its command once signed (when the same for every device),
    and the checker's verdict per enrollment type."""

    content: dict[str, Any]
    command: dict[str, Any] | None = None
    verdicts: dict[str, list[Problem]] | None = None

    def problems(self, enrollment_type: str) -> list[Problem]:
        """The errors that refuse this profile for an enrollment type (checked once per batch)."""
        self.verdicts = self.verdicts or {}
        if enrollment_type not in self.verdicts:
            self.verdicts[enrollment_type] = profile_errors(self.content, enrollment_type)
        return self.verdicts[enrollment_type]


def _due(now: datetime) -> Any:
    waiting = and_(ProfileState.last_command_uuid.is_(None),
                   ProfileState.status.in_((ProfileStatus.PENDING, ProfileStatus.REMOVING)))
    retry = and_(ProfileState.status == ProfileStatus.FAILED, ProfileState.next_attempt_at <= now)
    return or_(waiting, retry)


def deliver(session: Session, *, device_ids: Collection[int] | None = None,
            profile_ids: Collection[int] | None = None, limit: int | None = None, now: datetime | None = None) -> int:
    """Queue the commands of up to ``limit`` (default ``BATCH``) due rows (of enrolled devices); returns how
    many rows were handled (queued or failed). The caller commits."""
    now = now or utcnow()
    limit = limit or BATCH
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
    values = BatchValues(session, [device.id for _, device in rows])
    prepared: dict[int, _Prepared] = {}
    batch = CommandBatch(created_by=SYSTEM_ACTOR)
    failed = 0
    for state, device in rows:
        profile = profiles[state.profile_id]
        try:
            if state.operation == INSTALL:
                # kept even when it fails: a value that arrives later sends it again (desired.values_changed)
                state.filled_with = (filled_digest(values.of(device.id), profile.variables) if profile.variables
                                     else None)
                ready = _prepare(profile, prepared)
                problems = ready.problems(device.enrollment_type)
                if problems:  # refused before signing anything for this device
                    raise CommandRefused("; ".join(p.message for p in problems), problems)
                command_uuid = batch.add(device, _command(profile, device, values, ready), profile_problems=problems)
            else:
                command_uuid = batch.add(device, remove_profile(profile.identifier))
        except (ValueError, TypeError, OverflowError) as exc:  # VariableError, CommandRefused; a value no plist holds
            record_failure(state, str(exc), server_error_chain(str(exc)), now)
            failed += 1
            continue
        state.last_command_uuid = command_uuid
        state.status = ProfileStatus.PENDING if state.operation == INSTALL else ProfileStatus.REMOVING
        if state.operation == INSTALL:
            state.revision = profile.revision
        state.updated_at = now
    batch.write()
    audit.record("profile.delivered", actor_type="system", actor=SYSTEM_ACTOR,
                 detail={"queued": len(rows) - failed, "failed": failed})
    return len(rows)


def record_failure(state: ProfileState, message: str, error_chain: list[dict[str, Any]], now: datetime,
                   status: str = ProfileStatus.FAILED) -> None:
    """The row failed (``status``; an app's install under way stays installing), and is tried again with backoff."""
    state.status = status
    state.error, state.error_chain = message[:2000], error_chain
    state.attempts = (state.attempts or 0) + 1
    state.next_attempt_at = retry_at(state.attempts, now)
    state.last_command_uuid = None
    state.updated_at = now


def _prepare(profile: Profile, prepared: dict[int, _Prepared]) -> _Prepared:
    """The profile decoded once per batch."""
    ready = prepared.get(profile.id)
    if ready is None:
        content = mobileconfig.decode(profile.content).profile
        if not profile.variables:  # the same for every device: its $$ escapes become $ once, here
            content = substitute(content, {})
        ready = prepared[profile.id] = _Prepared(content)
    return ready


def _personal(profile: Profile, device: Device, values: BatchValues, ready: _Prepared) -> dict[str, Any]:
    """The profile's content as ``device`` gets it: variables filled, per-device payloads added; ``ready.content``
    itself when nothing is per device."""
    content = substitute(ready.content, values.of(device.id)) if profile.variables else ready.content
    return per_device_payloads(profile, device, content)


def _command(profile: Profile, device: Device, values: BatchValues, ready: _Prepared) -> dict[str, Any]:
    """The InstallProfile for one device: one command object for the batch when nothing in it is per device."""
    personal = _personal(profile, device, values, ready)
    if personal is ready.content and ready.command is not None:
        return ready.command
    command = install_profile(cms.sign(plist.dumps(personal), profile_signer(), extra_certs=[device_ca().certificate]))
    if personal is ready.content:
        ready.command = command
    return command


def signed_for(session: Session, profile: Profile, device: Device) -> bytes:
    """The signed profile as ``device`` gets it (a legacy-profile declaration serves it this way)."""
    personal = _personal(profile, device, BatchValues(session, [device.id]), _prepare(profile, {}))
    return cms.sign(plist.dumps(personal), profile_signer(), extra_certs=[device_ca().certificate])


def deliver_all(session: Session, now: datetime | None = None, max_batches: int | None = None) -> int:
    """Deliver every due row (or ``max_batches`` batches of them), committing batch by batch (the worker's
    jobs); returns how many were handled."""
    return until_done(session, lambda: deliver(session, now=now), BATCH, max_batches)
