"""Check-in messages (Authenticate, TokenUpdate, CheckOut) through the ORM, one short transaction each.

Check-ins are rare next to command reports (``portal.mdm.report``), so they use the ORM session.
Account-Driven enrollments also authenticate with their access token on every request: the
token's hash is copied onto the device row at Authenticate, so later requests cost one hash
compare and no extra query (``portal.mdm.pinning``). Tokens do not expire for MDM traffic.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from mdm_core import queue
from mdm_core.account_driven import access_token_matches
from mdm_core.checkin import CheckinMessage

from .. import audit
from ..database.locks import Lock, hold
from ..enrollment_policy import device_limit_reached
from ..extensions import db
from ..inventory.facts import DEVICE_COLUMNS, TOLD_FACTS, mirrored_changes
from ..inventory.history import record_fact_changes
from ..inventory.sweep import queue_inventory
from ..models import Command, Device, EndUser, EnrollmentAccessToken, EnrollmentGrant
from ..models.command import ENROLLMENT_ENDED_ERROR_CHAIN
from ..models.device import address_holder
from ..models.migration import restart_migration
from ..models.base import utcnow
from ..pki import current_topic
from .. import desired_state
from . import pinning
from .refusals import ISSUED_FOR, Refusal
from .statements import identifier_column


def record_checkin(message: CheckinMessage, fingerprint: str, access_token: str | None = None) -> Refusal | None:
    """Apply a check-in message and commit; the refusal, with nothing changed, or None."""
    if message.topic != current_topic():
        return _refused(Refusal.WRONG_TOPIC)
    handler = _HANDLERS[message.message_type]
    try:
        return _committed(handler(message, fingerprint, access_token))
    except IntegrityError:
        # A repeated Authenticate raced this one and inserted the enrollment's row first; run
        # once more, the handler finds that row.
        db.session.rollback()
        return _committed(handler(message, fingerprint, access_token))


def _refused(refusal: Refusal) -> Refusal:
    db.session.rollback()
    return refusal


def _committed(refusal: Refusal | None) -> Refusal | None:
    if refusal is None:
        db.session.commit()
    return refusal


def _device(enrollment_type: str, identifier: str) -> Device | None:
    return db.session.scalar(select(Device).where(identifier_column(enrollment_type) == identifier))


def _pinned_device(message: CheckinMessage, fingerprint: str, access_token: str | None) -> Device | Refusal:
    """The device the message names, if the request passes the pin rule; otherwise the refusal, rolled back."""
    device = _device(message.enrollment_type, message.identifier)
    refusal = pinning.refusal(device, fingerprint, access_token)
    return device if refusal is None else _refused(refusal)


def _authenticate(message: CheckinMessage, fingerprint: str, access_token: str | None) -> Refusal | None:
    grant = db.session.scalar(select(EnrollmentGrant).where(EnrollmentGrant.certificate_fingerprint == fingerprint))
    if grant is None:
        return _refused(Refusal.CERTIFICATE_NOT_ISSUED)
    if grant.enrollment_type != message.enrollment_type:
        return _refused(ISSUED_FOR[grant.enrollment_type])
    token_hash = None
    if grant.enrollment_method == "account_driven":
        token_hash = db.session.scalar(select(EnrollmentAccessToken.token_hash)
                                       .where(EnrollmentAccessToken.grant_id == grant.id))
        if token_hash is None or not access_token_matches(token_hash, access_token):
            return _refused(Refusal.ACCESS_TOKEN)
    device = _device(message.enrollment_type, message.identifier)
    bound = db.session.scalar(select(Device).where(Device.certificate_fingerprint == fingerprint))
    if bound is not None and bound is not device:
        return _refused(Refusal.CERTIFICATE_TAKEN)
    if device is not None and device.status == pinning.ENDED and message.enrollment_type == "user":
        # Every User Enrollment has a new EnrollmentID: one that ended never comes back, not even
        # with the certificate it had.
        return _refused(Refusal.ENROLLMENT_ID_ENDED)
    if device is not None and device.certificate_fingerprint != fingerprint and device.status != pinning.ENDED:
        return _refused(Refusal.OTHER_CERTIFICATE)
    if _offboarded_since_minted(grant):
        return _refused(Refusal.PERSON_OFFBOARDED)
    if grant.user is not None and device_limit_reached(grant.user, excluding_device_id=device.id if device else None):
        return _refused(Refusal.DEVICE_LIMIT)
    if device is not None and device.status == pinning.ENDED:  # a device enrollment's UDID row, reused
        _finish_open_commands(device.id)
    if device is None:
        device = Device(enrollment_type=message.enrollment_type,
                        enrollment_id=message.identifier if message.enrollment_type == "user" else None,
                        udid=message.identifier if message.enrollment_type == "device" else None)
        db.session.add(device)
    device.enrollment_method = grant.enrollment_method
    device.grant_id = grant.id
    # the person the profile was made for, else (a profile the API minted names only the address) whoever holds
    # the address as the device enrolls: a later holder of the address never gets this enrollment
    device.user_id = grant.user_id if grant.user_id is not None else address_holder(db.session, grant.managed_apple_id)
    device.managed_apple_id = grant.managed_apple_id
    device.certificate_fingerprint = fingerprint
    device.access_token_hash = token_hash
    device.status = "pending"
    device.topic = message.topic
    device.push_token = device.push_magic = None
    device.unenrolled_at = None
    now = utcnow()
    if device.id is not None:  # an enrollment again: the facts it changes are recorded, as a status report's are
        record_fact_changes(db.session.connection(), device.id, now, mirrored_changes(
            {column: getattr(device, column) for column in TOLD_FACTS},
            {column: getattr(message, column) for column in TOLD_FACTS}))
    for column, _ in DEVICE_COLUMNS.values():
        value = getattr(message, column)
        if value is not None:
            setattr(device, column, value)
    device.last_seen_at = now
    return None


def _token_update(message: CheckinMessage, fingerprint: str, access_token: str | None) -> Refusal | None:
    device = _pinned_device(message, fingerprint, access_token)
    if isinstance(device, Refusal):
        return device
    first = device.status == "pending"
    if first:
        hold(db.session, Lock.DESIRED_STATE)
        grant = db.session.get(EnrollmentGrant, device.grant_id) if device.grant_id is not None else None
        if grant is not None and _offboarded_since_minted(grant):
            return _refused(Refusal.PERSON_OFFBOARDED)
    device.push_token = message.token
    device.push_magic = message.push_magic
    device.push_token_dead_at = None
    device.status = "enrolled"
    device.last_seen_at = utcnow()
    if first:
        if device.enrollment_type == "device" and device.enrolled_at is not None:  # it enrolls again
            restart_migration(db.session, device.id)
        device.enrolled_at = device.last_seen_at
        db.session.flush()
        audit.record("device.enrolled", actor_type="device", actor=device.managed_apple_id,
                     target_type="device", target_id=device.id,
                     detail={"enrollment_type": device.enrollment_type, "method": device.enrollment_method})
        # profiles first: the inventory round's ProfileList then confirms them
        desired_state.devices_changed(db.session, [device.id], now=device.enrolled_at)
        queue_inventory(device, now=device.enrolled_at)
    return None


def _checkout(message: CheckinMessage, fingerprint: str, access_token: str | None) -> Refusal | None:
    device = _pinned_device(message, fingerprint, access_token)
    if device is Refusal.REMOVED:  # already ended: nothing left to do, and nothing to refuse
        return None
    if isinstance(device, Refusal):
        return device
    hold(db.session, Lock.DESIRED_STATE)
    device.status = pinning.ENDED
    device.unenrolled_at = device.last_seen_at = utcnow()
    # its rows go first: deleting them waits for a delivery that holds them, whose commands the next statement
    # then sees and finishes (finished first, a command that delivery was still writing stayed open for good)
    desired_state.enrollment_ended(db.session, device.id)
    _finish_open_commands(device.id)
    audit.record("device.unenrolled", actor_type="device", actor=device.managed_apple_id,
                 target_type="device", target_id=device.id, detail={"reason": "CheckOut from device"})
    return None


def _offboarded_since_minted(grant: EnrollmentGrant) -> bool:
    """Whether a person the grant was minted for was offboarded since: offboarding retires only enrolled devices
    and revokes only unused challenges, so an enrollment under way stops here. The people's rows stay locked until
    the commit (as ``device_limit_reached`` locks them), so an offboarding, which writes its person's row, either
    commits before this reads it or starts after this commits: after Authenticate, the first TokenUpdate checks
    again; after that TokenUpdate, the device is enrolled and offboarding retires it."""
    offboarded = db.session.scalars(select(EndUser.offboarded_at).where(or_(
        EndUser.id == grant.user_id, EndUser.managed_apple_id == grant.managed_apple_id)
    ).order_by(EndUser.id).with_for_update())
    return any(at is not None and at >= grant.created_at for at in offboarded)


def _finish_open_commands(device_id: int) -> None:
    """End the commands of an enrollment that ended: the device will never answer them, and a
    later enrollment reusing the row (a device enrollment's UDID) must not receive them."""
    open_commands = and_(Command.device_id == device_id, Command.status.in_(sorted(queue.OPEN_STATUSES)))
    db.session.execute(update(Command).where(open_commands)
                       .values(status=queue.ERROR, completed_at=utcnow(), error_chain=ENROLLMENT_ENDED_ERROR_CHAIN)
                       .execution_options(synchronize_session=False))


_HANDLERS: dict[str, Callable[[CheckinMessage, str, str | None], Refusal | None]] = {
    "Authenticate": _authenticate, "TokenUpdate": _token_update, "CheckOut": _checkout}
