"""Command forms derived from the capability tables: which commands a device's page offers, the
fields each takes, and turning a submitted form into a command dictionary.

Commands with dedicated handling (a profile upload, app identifiers, the inventory queries)
are listed first; any other allowed command whose keys are all simple values gets a generic
form. Whatever is offered, ``remote_commands.send`` checks the command again before queueing.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from mdm_core import cms, plist
from mdm_core import commands as builders
from mdm_core.capabilities import (PLIST_INTEGER_MAX, PLIST_INTEGER_MIN, command_spec, forbidden_for_user_enrollment,
                                   is_command_allowed, request_types)
from mdm_core.profile_check import ProfileCheckError, check_profile

from ..ids import parse_id, parse_int

MAX_PROFILE_BYTES = 1024 * 1024
_SIMPLE_TYPES = {"<string>": "text", "<integer>": "number", "<boolean>": "checkbox"}


class CommandFormError(ValueError):
    """The submitted form does not make a valid command; the message tells the admin what to fix."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text, number, checkbox, file
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class CommandChoice:
    request_type: str
    label: str
    fields: tuple[Field, ...] = ()


_DEDICATED: dict[str, CommandChoice] = {c.request_type: c for c in (
    CommandChoice("DeviceInformation", "Refresh device information"),
    CommandChoice("SecurityInfo", "Refresh security information"),
    CommandChoice("ManagedApplicationList", "Refresh managed apps"),
    CommandChoice("InstalledApplicationList", "Refresh installed managed apps"),
    CommandChoice("ProfileList", "Refresh installed profiles"),
    CommandChoice("CertificateList", "Refresh certificates"),
    CommandChoice("InstallProfile", "Install a profile", (
        Field("profile", "file", True, ".mobileconfig, signed or not; checked against the enrollment type"),)),
    CommandChoice("RemoveProfile", "Remove a profile", (Field("Identifier", "text", True, "PayloadIdentifier"),)),
    CommandChoice("InstallApplication", "Install an app", (
        Field("iTunesStoreID", "number", False, "App Store id (a VPP assignment under User Enrollment)"),
        Field("ManifestURL", "text", False, "or an in-house app's manifest URL"))),
    CommandChoice("RemoveApplication", "Remove a managed app", (Field("Identifier", "text", True, "bundle id"),)),
    CommandChoice("DeviceLock", "Lock the screen", (
        Field("Message", "text", False, "shown on the lock screen"), Field("PhoneNumber", "text", False))),
)}


def _generic_choice(request_type: str, enrollment_type: str) -> CommandChoice | None:
    spec = command_spec(request_type)
    fields = []
    for key in spec.keys.values():
        if not key.ios_supported or (enrollment_type == "user" and forbidden_for_user_enrollment(key.user_enrollment)):
            continue
        kind = _SIMPLE_TYPES.get(key.type)
        if kind is None:
            if key.required:
                return None  # needs structured input: no generic form
            continue
        fields.append(Field(key.name, kind, key.required))
    return CommandChoice(request_type, request_type, tuple(fields))


@lru_cache(maxsize=None)
def offered_commands(enrollment_type: str) -> tuple[CommandChoice, ...]:
    """The commands a device of this enrollment type may receive and a form can express."""
    offered = [c for name, c in _DEDICATED.items() if is_command_allowed(name, enrollment_type)]
    for name in request_types():
        if name in _DEDICATED or name == "RemoveProfile" or not is_command_allowed(name, enrollment_type):
            continue
        choice = _generic_choice(name, enrollment_type)
        if choice is not None:
            offered.append(choice)
    return tuple(offered)


def _profile_payload(upload, enrollment_type: str) -> bytes:
    if upload is None or not upload.filename:
        raise CommandFormError("choose a .mobileconfig file")
    data = upload.read(MAX_PROFILE_BYTES + 1)
    if len(data) > MAX_PROFILE_BYTES:
        raise CommandFormError("the profile is larger than 1 MB")
    try:
        content = cms.verify(data).content if cms.is_cms(data) else data
        profile = plist.loads(content)
        report = check_profile(profile, enrollment_type)
    except (ValueError, ProfileCheckError) as exc:
        raise CommandFormError(f"not a readable configuration profile: {exc}") from None
    errors = [p.message for p in report.problems if p.severity == "error"]
    if errors:
        raise CommandFormError("the profile cannot be installed on this device: " + "; ".join(errors[:5]))
    return data


def command_from_form(request_type: str, enrollment_type: str, form: Mapping[str, str], files: Mapping) -> dict:
    """Build the command a submitted form describes; CommandFormError says what is wrong."""
    choice = next((c for c in offered_commands(enrollment_type) if c.request_type == request_type), None)
    if choice is None:
        raise CommandFormError(f"{request_type} cannot be sent to this device")
    try:
        if request_type == "DeviceInformation":
            return builders.device_information(enrollment_type)
        if request_type == "InstalledApplicationList":
            return builders.installed_application_list(managed_apps_only=True)
        if request_type == "InstallProfile":
            return builders.install_profile(_profile_payload(files.get("profile"), enrollment_type))
        if request_type == "InstallApplication":
            store_id = (form.get("iTunesStoreID") or "").strip()
            manifest = (form.get("ManifestURL") or "").strip()
            itunes_store_id = parse_id(store_id) if store_id else None
            if store_id and itunes_store_id is None:
                raise CommandFormError("iTunesStoreID must be the App Store id of the app (a whole number)")
            return builders.install_application(
                itunes_store_id=itunes_store_id, manifest_url=manifest or None,
                purchase_method=1 if store_id and enrollment_type == "user" else None)
        keys = {}
        for field in choice.fields:
            raw = form.get(field.name)
            if field.kind == "checkbox":
                if raw is not None:
                    keys[field.name] = raw in ("on", "true", "1")
                continue
            raw = (raw or "").strip()
            if not raw:
                if field.required:
                    raise CommandFormError(f"{field.name} is required")
                continue
            if field.kind == "number":
                number = parse_int(raw, minimum=PLIST_INTEGER_MIN, maximum=PLIST_INTEGER_MAX)
                if number is None:
                    raise CommandFormError(f"{field.name} must be a whole number from {PLIST_INTEGER_MIN} "
                                           f"to {PLIST_INTEGER_MAX}")
                keys[field.name] = number
            else:
                keys[field.name] = raw[:1024]
        return builders.build_command(request_type, **keys)
    except builders.CommandError as exc:
        raise CommandFormError(str(exc)) from None
