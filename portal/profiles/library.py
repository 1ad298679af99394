"""The profile library: uploads read and checked once, stored with their verdict and a content revision.

Saving keeps whatever the checker says, with one exception: an unknown ``$VARIABLE`` would fail on
every device, so it is refused at save. A profile with errors for User Enrollment (a payload or key
it forbids) is saved, but its scope may not reach a user-enrolled device (``scope_refusal``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm_core import mobileconfig
from mdm_core.mobileconfig import EncryptedProfileError, MobileconfigError, OversizedProfileError
from mdm_core.profile_variables import check_variables, used_variables

from ..models import Profile
from ..models.base import utcnow
from ..remote_commands import enrollment_profile_identifier
from ..scope.targets import Scope

MAX_NAME = 255


class ProfileRejected(ValueError):
    """The upload cannot be saved: ``status`` (400, 409, 413, 422), ``error`` code and ``detail`` for the API."""

    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.error, self.detail = status, error, detail


@dataclass(frozen=True)
class Upload:
    """What saving an upload stores: its identifier, name, revision and the checker's verdict."""

    content: bytes
    identifier: str
    display_name: str | None
    revision: str
    variables: str
    problems: list[dict[str, Any]]
    user_enrollment: str
    valid_for_user: bool
    valid_for_device: bool


def read_upload(data: bytes) -> Upload:
    """Decode and check ``.mobileconfig`` bytes; ProfileRejected for what cannot be saved."""
    try:
        decoded = mobileconfig.decode(data)
    except OversizedProfileError as exc:
        raise ProfileRejected(413, "too_large", str(exc)) from None
    except EncryptedProfileError as exc:
        raise ProfileRejected(422, "encrypted_profile", str(exc)) from None
    except MobileconfigError as exc:
        raise ProfileRejected(400, "not_a_profile", str(exc)) from None
    identifier = decoded.identifier
    if not identifier or len(identifier) > 255 or not identifier.isprintable():
        raise ProfileRejected(422, "invalid_profile", "the profile needs a top-level PayloadIdentifier "
                                                      "(printable, at most 255 characters)")
    if identifier == enrollment_profile_identifier():
        raise ProfileRejected(422, "invalid_profile", f"{identifier} is the enrollment profile's identifier; "
                                                      "a library profile must not replace it")
    unknown = check_variables(decoded.profile)
    if unknown:
        raise ProfileRejected(422, "unknown_variable", [p.to_dict() for p in unknown])
    for_user = mobileconfig.check(decoded, "user")
    name = decoded.profile.get("PayloadDisplayName")
    return Upload(content=bytes(data), identifier=identifier,
                  display_name=name if isinstance(name, str) else None,
                  revision=hashlib.sha256(data).hexdigest(), problems=[p.to_dict() for p in for_user.problems],
                  variables=" ".join(sorted(used_variables(decoded.profile))),
                  user_enrollment=for_user.user_enrollment, valid_for_user=for_user.valid,
                  valid_for_device=mobileconfig.check(decoded, "device").valid)


def checked_name(name: str | None, upload: Upload) -> str:
    """The name given (``?name=``), else the profile's display name, else its identifier."""
    name = (name or "").strip() or (upload.display_name or "").strip() or upload.identifier
    if len(name) > MAX_NAME or not name.isprintable():
        raise ProfileRejected(400, "bad_request", f"name must be printable, at most {MAX_NAME} characters")
    return name


def store(profile: Profile, upload: Upload, name: str, actor: str | None) -> None:
    """Write an upload onto a (new, edited or revived) profile row; the caller adds and commits."""
    now = utcnow()
    profile.name, profile.identifier, profile.content, profile.revision = name, upload.identifier, upload.content, upload.revision
    profile.variables, profile.problems, profile.user_enrollment = upload.variables, upload.problems, upload.user_enrollment
    profile.valid_for_user, profile.valid_for_device = upload.valid_for_user, upload.valid_for_device
    profile.updated_at, profile.updated_by, profile.deleted_at = now, actor, None
    if profile.created_at is None:  # new; a revived profile keeps its first creation
        profile.created_at, profile.created_by = now, actor


def scope_refusal(profile: Profile, scope: Scope, criteria: dict[int, dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The checker's errors that forbid ``scope`` for ``profile`` (None when it may have it): a scope that
    can reach a user-enrolled device needs a profile without errors for User Enrollment, and one that
    reaches legacy device enrollments a profile without errors for them."""
    if scope.reaches_user_enrollments(criteria) and not profile.valid_for_user:
        return [p for p in profile.problems if p.get("severity") == "error"]
    if scope.include_legacy and not scope.empty and not profile.valid_for_device:
        report = mobileconfig.check(mobileconfig.decode(profile.content), "device")
        return [p.to_dict() for p in report.problems if p.severity == "error"]
    return None


def problem_place(problem: dict[str, Any]) -> str:
    """Where in a profile a checker's problem is: its payload type and key."""
    return f"{problem.get('payload_type') or 'profile'} {problem.get('key') or '(whole payload)'}"


def refusal_message(problems: list[dict[str, Any]]) -> str:
    """One sentence naming each payload and key, for logs and pages."""
    return "; ".join(f"{problem_place(p)}: {p['message']}" for p in problems)


def find_by_identifier(session: Session, identifier: str) -> Profile | None:
    return session.scalar(select(Profile).where(Profile.identifier == identifier))


def profile_json(profile: Profile, counts: dict[str, int] | None = None) -> dict[str, Any]:
    data = {"id": profile.id, "name": profile.name, "identifier": profile.identifier, "revision": profile.revision,
            "variables": profile.variables.split(), "source": profile.source,
            "user_enrollment": profile.user_enrollment, "problems": profile.problems,
            "created_at": profile.created_at.isoformat(), "created_by": profile.created_by,
            "updated_at": profile.updated_at.isoformat(), "updated_by": profile.updated_by}
    if counts is not None:
        data["counts"] = counts
    return data
