"""The steps of offboarding a person, in order. Each is ``step(session, user_id) -> None``, runs in the
offboarding's transaction and must be idempotent (a person may be offboarded twice).

Other parts plug their own step into ``STEPS``, as managed apps do: releasing the person's
volume-purchase licenses, ``portal.apps.licenses.release_person``.
"""
from __future__ import annotations

from flask import has_request_context
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from mdm_core import queue

from .. import audit, remote_commands
from ..apps.licenses import release_person
from ..models import Command, Device, EndUser, EnrollmentAccessToken, EnrollmentGrant, EnrollmentRetirement
from ..models.base import utcnow
from ..models.device import DeviceStatus, owned_by


def retire_enrollments(session: Session, user_id: int) -> None:
    """Queue RemoveProfile of the enrollment profile (under User Enrollment it takes the managed volume: managed
    apps and their data, the organisation's accounts; nothing personal) for every active enrollment that is not
    already retiring; each enrollment is ``retiring`` until the phone's CheckOut unenrolls it."""
    user = session.get(EndUser, user_id)
    already = select(EnrollmentRetirement.device_id)
    devices = session.scalars(select(Device).where(owned_by(user), Device.status == DeviceStatus.ENROLLED,
                                                   Device.id.not_in(already)).order_by(Device.id)).all()
    command = remote_commands.unenroll_command()
    actor = audit_actor()
    for device in devices:
        queued = remote_commands.send(device, command, created_by=actor, audited=False)
        session.flush()
        session.add(EnrollmentRetirement(device_id=device.id, user_id=user_id, command_id=queued.id, started_by=actor))
        audit.record("device.retirement_sent", target_type="device", target_id=device.id,
                     detail={"command_uuid": queued.command_uuid, "user_id": user_id})


def revoke_enrollment_grants(session: Session, user_id: int) -> None:
    """Unused enrollment profiles and account-driven tokens stop working, so the person cannot enroll again."""
    user = session.get(EndUser, user_id)
    now = utcnow()
    session.execute(update(EnrollmentGrant)
                    .where(or_(EnrollmentGrant.user_id == user_id, EnrollmentGrant.managed_apple_id == user.managed_apple_id),
                           EnrollmentGrant.challenge_used_at.is_(None), EnrollmentGrant.challenge_expires_at > now)
                    .values(challenge_expires_at=now).execution_options(synchronize_session=False))
    session.execute(update(EnrollmentAccessToken)
                    .where(EnrollmentAccessToken.user_id == user_id, EnrollmentAccessToken.used_at.is_(None),
                           EnrollmentAccessToken.expires_at > now)
                    .values(expires_at=now).execution_options(synchronize_session=False))


def end_sessions(session: Session, user_id: int) -> None:
    session.execute(update(EndUser).where(EndUser.id == user_id)
                    .values(session_version=EndUser.session_version + 1).execution_options(synchronize_session=False))


def cancel_unsent_retirements(session: Session, user_id: int) -> tuple[int, int]:
    """Cancel the retirement commands no phone has fetched, in one statement whatever the number of devices;
    ``(cancelled, already sent)``. A sent one stays: the phone may already have removed the managed volume."""
    retiring = (select(EnrollmentRetirement.command_id).join(Device, Device.id == EnrollmentRetirement.device_id)
                .where(EnrollmentRetirement.user_id == user_id, Device.status == DeviceStatus.ENROLLED))
    total = session.scalar(select(func.count()).select_from(retiring.subquery()))
    if not total:
        return 0, 0
    cancelled = session.scalars(
        update(Command)
        .where(Command.id.in_(retiring), Command.status == queue.QUEUED)
        .values(status=queue.ERROR, completed_at=utcnow(),
                error_chain=[{"ErrorDomain": "byod-mdm", "ErrorCode": 0,
                              "LocalizedDescription": "Cancelled: the person was reactivated before the device fetched it"}])
        .returning(Command.id).execution_options(synchronize_session=False)).all()
    if cancelled:
        session.execute(delete(EnrollmentRetirement).where(EnrollmentRetirement.command_id.in_(cancelled))
                        .execution_options(synchronize_session=False))
    return len(cancelled), total - len(cancelled)


def audit_actor() -> str | None:
    """Who is offboarding, as command rows record it (the token's or admin's name, or the system)."""
    if not has_request_context():
        return "system"
    actor_type, actor = audit._current_actor()
    return actor or actor_type


STEPS = (retire_enrollments, release_person, revoke_enrollment_grants, end_sessions)
