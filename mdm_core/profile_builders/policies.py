"""Passcode and restrictions payloads.

Under User Enrollment a passcode policy can only require a passcode; its tuning keys
(length, complexity, age) are ignored, and the checker says so as warnings. Most
restrictions are forbidden there: :func:`restriction_keys` lists those a form should offer.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mdm_core.capabilities import EnrollmentType, forbidden_for_user_enrollment, payload_spec
from mdm_core.profile_builders.base import BuildError, Payload

RESTRICTIONS_TYPE = "com.apple.applicationaccess"


@dataclass(frozen=True, kw_only=True)
class PasscodePolicy(Payload):
    PAYLOAD_TYPE = "com.apple.mobiledevice.passwordpolicy"
    TITLE = "Passcode"

    forcePIN: bool | None = True
    allowSimple: bool | None = None
    requireAlphanumeric: bool | None = None
    minLength: int | None = None
    minComplexChars: int | None = None
    maxPINAgeInDays: int | None = None
    maxInactivity: int | None = None
    pinHistory: int | None = None
    maxGracePeriod: int | None = None
    maxFailedAttempts: int | None = None


@dataclass(frozen=True, kw_only=True)
class Restrictions(Payload):
    """Restrictions by Apple's key name (``{"allowScreenShot": False}``); the list is long and
    grows with each iOS, so it is a mapping checked against the schema tables, not fields."""

    PAYLOAD_TYPE = RESTRICTIONS_TYPE
    TITLE = "Restrictions"

    settings: Mapping[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        super().check()
        if not self.settings:
            raise BuildError("restrictions: choose at least one restriction")
        known = set(restriction_keys(None))
        unknown = sorted(str(name) for name in self.settings if name not in known)
        if unknown:
            raise BuildError(f"restrictions: unknown key {unknown[0]!r}")

    def to_plist(self) -> dict[str, Any]:
        return dict(self.settings)


def restriction_keys(enrollment_type: EnrollmentType | None) -> tuple[str, ...]:
    """The restriction keys iOS knows, sorted; for "user" only those User Enrollment does not forbid."""
    spec = payload_spec(RESTRICTIONS_TYPE)
    return tuple(sorted(
        name for name, key in spec.keys.items()
        if key.ios_supported and not name.startswith("Payload")
        and not (enrollment_type == "user" and forbidden_for_user_enrollment(key.user_enrollment))))
