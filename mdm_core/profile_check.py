"""Check a decoded configuration profile against Apple's iOS schema and User Enrollment rules.

Backs ``POST /api/v1/profiles/check`` and the refusal to queue a profile a user-enrolled
device would reject. Unknown keys are warnings (Apple's schema lags the OS); anything User
Enrollment forbids is an error when checking for "user" and a warning for "device", and
either way makes ``user_enrollment`` "forbidden". Rules Apple's schema states in words are checked too:
unique identifiers, and certificate references naming a certificate payload of the profile
(:mod:`mdm_core.profile_references`).
"""
from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from mdm_core import cms, plist
from mdm_core.capabilities import (
    TOP_LEVEL_SPEC,
    EnrollmentType,
    KeySpec,
    Problem,
    PayloadSpec,
    capped,
    check_keys,
    forbidden_for_user_enrollment,
    payload_spec,
)
from mdm_core.profile_references import check_references

TOP_LEVEL_TYPE = "Configuration"
#: Apple's schema for the per-app VPN payload: "The fields in this payload are the same as the VPN
#: payload, with the addition of" its own. The VPN payload's keys carry its payload-level mode
#: (forbidden under User Enrollment); inside a per-app VPN they take the per-app VPN's mode.
_KEYS_SHARED_WITH = {"com.apple.vpn.managed.applayer": "com.apple.vpn.managed"}


class ProfileCheckError(ValueError):
    """The value is not a configuration profile dictionary at all."""


@dataclass(frozen=True)
class ProfileReport:
    valid: bool
    user_enrollment: Literal["allowed", "forbidden"]
    problems: list[Problem]

    def to_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "user_enrollment": self.user_enrollment,
                "problems": [problem.to_dict() for problem in self.problems]}


def check_profile(profile: Mapping[str, Any], enrollment_type: EnrollmentType = "user") -> ProfileReport:
    """Check an unsigned, decoded profile for an enrollment type; see the module docstring."""
    if not isinstance(profile, Mapping):
        raise ProfileCheckError("a configuration profile must be a dictionary")
    problems: list[Problem] = []
    top_keys = dict(TOP_LEVEL_SPEC.keys)
    if profile.get("IsEncrypted") is True:
        top_keys["PayloadContent"] = dataclasses.replace(top_keys["PayloadContent"], required=False)
        problems.append(Problem("warning", "EncryptedPayloadContent",
                                "the payloads are encrypted and cannot be checked", TOP_LEVEL_TYPE))
    check_keys(profile, top_keys, enrollment_type, problems, unknown_severity="warning", payload_type=TOP_LEVEL_TYPE)
    content = profile.get("PayloadContent")
    content = content if isinstance(content, list) else []
    for index, payload in enumerate(content):
        if capped(problems):
            break
        if isinstance(payload, Mapping):  # other elements were reported by the top-level check
            _check_payload(payload, f"PayloadContent[{index}]", enrollment_type, problems)
    payloads = [payload for payload in content if isinstance(payload, Mapping)]
    _check_unique_identifiers(profile, payloads, problems)
    check_references(payloads, problems)
    capped(problems)
    return ProfileReport(
        valid=not any(problem.severity == "error" for problem in problems),
        user_enrollment="forbidden" if any(problem.forbids_user_enrollment for problem in problems) else "allowed",
        problems=problems,
    )


def _check_payload(payload: Mapping[str, Any], where: str, enrollment_type: EnrollmentType,
                   problems: list[Problem]) -> None:
    payload_type = payload.get("PayloadType")
    if not isinstance(payload_type, str):
        problems.append(Problem("error", f"{where}.PayloadType", f"{where} has no PayloadType string"))
        return
    spec = payload_spec(payload_type)
    refusal = _payload_refusal(spec, payload_type, enrollment_type)
    if refusal is not None:
        problems.append(refusal)
    if spec is None or not spec.ios_supported or refusal is not None and refusal.severity == "error":
        return
    check_keys(payload, _payload_keys(payload_type), enrollment_type, problems, unknown_severity="warning",
               payload_type=payload_type)


@functools.cache
def _payload_keys(payload_type: str) -> Mapping[str, KeySpec]:
    """A payload type's keys, with the keys it shares with another payload (see ``_KEYS_SHARED_WITH``)."""
    spec = payload_spec(payload_type)
    assert spec is not None
    shared_type = _KEYS_SHARED_WITH.get(payload_type)
    shared = payload_spec(shared_type) if shared_type else None
    if shared is None:
        return spec.keys
    inherited = {name: _with_mode(key, spec.user_enrollment) for name, key in shared.keys.items()}
    return MappingProxyType({**inherited, **spec.keys})


def _with_mode(key: KeySpec, mode: str | None) -> KeySpec:
    return dataclasses.replace(
        key, user_enrollment=mode,
        subkeys=MappingProxyType({name: _with_mode(child, mode) for name, child in key.subkeys.items()}),
        item=_with_mode(key.item, mode) if key.item is not None else None,
        variants=MappingProxyType({name: _with_mode(child, mode) for name, child in key.variants.items()}))


def _payload_refusal(spec: PayloadSpec | None, payload_type: str, enrollment_type: EnrollmentType) -> Problem | None:
    """The one payload-level finding, if any; an error stops the key checks."""
    if spec is None:
        return Problem("error", None, f"unknown PayloadType {payload_type}", payload_type)
    if spec.introduced is None:
        return Problem("warning", None, f"Apple's schema gives no iOS details for {payload_type}", payload_type)
    if not spec.ios_supported:
        return Problem("error", None, f"{payload_type} is not supported on iOS", payload_type)
    if forbidden_for_user_enrollment(spec.user_enrollment):
        severity = "error" if enrollment_type == "user" else "warning"
        return Problem(severity, None, f"{payload_type} is forbidden under User Enrollment", payload_type,
                       forbids_user_enrollment=True)
    if enrollment_type == "user" and spec.user_enrollment == "ignored":
        return Problem("warning", None, f"{payload_type} is ignored under User Enrollment", payload_type)
    if spec.supervised_only:
        return Problem("warning", None, f"{payload_type} takes effect only on supervised devices", payload_type)
    return None


def _check_unique_identifiers(profile: Mapping[str, Any], payloads: list[Mapping[str, Any]],
                              problems: list[Problem]) -> None:
    """Each ``PayloadUUID`` once in the profile, and each payload's ``PayloadIdentifier`` once among the payloads
    (CommonPayloadKeys: "must be unique within the profile"; a payload may repeat the top-level identifier, which
    names the profile, not a payload)."""
    for name, items in (("PayloadUUID", (profile, *payloads)), ("PayloadIdentifier", payloads)):
        counts = Counter(value for item in items if isinstance(value := item.get(name), str))
        for value, count in sorted(counts.items()):
            if count > 1:
                problems.append(Problem("error", name, f"{name} {value} is used {count} times"))


def decode_profile(data: bytes, *, max_bytes: int = plist.MAX_PLIST_BYTES) -> tuple[dict[str, Any], bool]:
    """The profile dictionary inside ``.mobileconfig`` bytes (CMS-signed or not, XML or binary).

    Returns ``(profile, signed)``; raises ProfileCheckError for bytes that are not a profile
    at all, including a signed profile whose signature does not verify.
    """
    signed = cms.is_cms(data)
    if signed:
        try:
            data = cms.verify(data).content
        except cms.CMSError as exc:
            raise ProfileCheckError(f"the profile's signature does not verify: {exc}") from None
    try:
        profile = plist.loads(data, max_bytes=max_bytes)
    except plist.PlistError as exc:
        raise ProfileCheckError(str(exc)) from None
    return profile, signed


def check_command_profile(enrollment_type: EnrollmentType, command: Mapping[str, Any]) -> list[Problem]:
    """The errors in the profile an ``InstallProfile`` command carries (none for other commands).

    ``check_command`` only sees that ``Payload`` is data; this reads the profile inside, so a
    payload User Enrollment forbids is refused whichever page or API queued it.
    """
    if command.get("RequestType") != "InstallProfile" or not isinstance(command.get("Payload"), (bytes, bytearray)):
        return []
    try:
        profile, _signed = decode_profile(bytes(command["Payload"]))
        return profile_errors(profile, enrollment_type)
    except ProfileCheckError as exc:
        return [Problem("error", "Payload", f"the profile cannot be read: {exc}")]


def profile_errors(profile: Mapping[str, Any], enrollment_type: EnrollmentType) -> list[Problem]:
    """The errors that refuse sending a decoded, unsigned profile to this kind of enrollment.

    The verdict depends on the profile's content alone: a batch sending one profile to many devices
    checks it once per enrollment type (``portal.command_batch``). Raises ProfileCheckError for a
    value that is not a profile dictionary.
    """
    problems = [p for p in check_profile(profile, enrollment_type).problems if p.severity == "error"]
    if enrollment_type == "user" and profile.get("IsEncrypted") is True:
        problems.append(Problem("error", "Payload", "an encrypted profile cannot be checked against User Enrollment's rules",
                                TOP_LEVEL_TYPE))
    return problems
