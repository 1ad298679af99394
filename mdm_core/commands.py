"""MDM commands: building them from the schema, and reading the device's command reports.

Every builder goes through :func:`build_command`, which checks the keys against Apple's iOS
schema (:mod:`mdm_core.capabilities`). Whether a command may go to a particular enrollment is
a separate question, answered by :func:`mdm_core.capabilities.check_command` before queueing.
"""
from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mdm_core import plist
from mdm_core.capabilities import EnrollmentType, Problem, allowed_device_information_queries, check_command

CommandStatus = Literal["Idle", "Acknowledged", "Error", "CommandFormatError", "NotNow"]
COMMAND_STATUSES: frozenset[str] = frozenset({"Idle", "Acknowledged", "Error", "CommandFormatError", "NotNow"})
#: Reports carry inventories (apps, certificates, profiles), so allow more than the default plist limit.
MAX_REPORT_BYTES = 4 * 1024 * 1024

_ERROR_CHAIN_TYPES = {"ErrorCode": int, "ErrorDomain": str, "LocalizedDescription": str, "USEnglishDescription": str}


class CommandError(ValueError):
    """A command does not match Apple's schema; ``problems`` lists why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(problem.message for problem in problems if problem.severity == "error"))


class ProtocolError(ValueError):
    """A command report from a device is not one we accept; the message says why."""


def build_command(request_type: str, **keys: Any) -> dict[str, Any]:
    """``{"RequestType": request_type, **keys}`` after checking it against the iOS schema."""
    command = {"RequestType": request_type, **keys}
    problems = check_command(None, command)
    if any(problem.severity == "error" for problem in problems):
        raise CommandError(problems)
    return command


def new_command_uuid() -> str:
    return str(uuid.uuid4()).upper()


def command_plist(command_uuid: str, command: Mapping[str, Any]) -> bytes:
    """The XML plist body that answers a device's poll with one command."""
    if not isinstance(command_uuid, str) or not command_uuid:
        raise CommandError([Problem("error", "CommandUUID", "CommandUUID must be a non-empty string")])
    try:
        return plist.dumps({"CommandUUID": command_uuid, "Command": dict(command)})
    except (TypeError, ValueError, OverflowError) as exc:  # control characters, None, integers over 64 bits
        raise CommandError([Problem("error", None, f"the command cannot be written as a property list: {exc}")]) from None


class CommandPlists:
    """The plists of one command under many CommandUUIDs: written once, each copy with its own UUID.

    A profile rollout sends the same signed profile to the fleet, and writing its base64 is the
    bulk of a command's plist; only the UUID differs. The placeholder is a random UUID of the same
    form (which no escaping touches), so it cannot occur elsewhere in the command by accident.
    """

    def __init__(self, command: Mapping[str, Any]) -> None:
        self.command = command
        self._placeholder = new_command_uuid().encode()
        self._body = command_plist(self._placeholder.decode(), command)

    def for_uuid(self, command_uuid: str) -> bytes:
        """The plist of ``command`` with ``command_uuid`` (one made by :func:`new_command_uuid`)."""
        return self._body.replace(self._placeholder, command_uuid.encode(), 1)


def queried_keys(payload: bytes, command_uuid: str) -> tuple[str, ...] | None:
    """The ``Queries`` of a DeviceInformation plist made by :func:`command_plist`; None without them.

    Read from the plist with its CommandUUID cut out, and cached by that: an inventory round
    sends the same query list to the whole fleet, so the plist is parsed once per list, not
    once per answer. The cut cannot make two lists look alike: a list would have to contain
    the random UUID of the very command that carries it.
    """
    return _queried_keys(payload.replace(command_uuid.encode(), b""))


@functools.lru_cache(maxsize=64)
def _queried_keys(payload_without_uuid: bytes) -> tuple[str, ...] | None:
    queries = plist.loads(payload_without_uuid)["Command"].get("Queries")
    return tuple(queries) if isinstance(queries, list) else None


def device_information(enrollment_type: EnrollmentType) -> dict[str, Any]:
    """Ask for every device fact the enrollment type may report (no hardware identifiers under UE)."""
    return build_command("DeviceInformation", Queries=list(allowed_device_information_queries(enrollment_type)))


def profile_list() -> dict[str, Any]:
    return build_command("ProfileList")


def install_profile(profile_bytes: bytes) -> dict[str, Any]:
    """Install a ``.mobileconfig`` (signed or not); ``Payload`` carries its raw bytes."""
    return build_command("InstallProfile", Payload=profile_bytes)


def remove_profile(identifier: str) -> dict[str, Any]:
    return build_command("RemoveProfile", Identifier=identifier)


def remove_enrollment(enrollment_profile_identifier: str) -> dict[str, Any]:
    """Un-enroll: MDM has no dedicated command; removing the enrollment profile ends management.

    ``RemoveProfile`` is allowed under User Enrollment, and on a user-enrolled device the
    removal also deletes the managed volume with the organisation's apps and data.
    """
    return remove_profile(enrollment_profile_identifier)


def managed_application_list(identifiers: Iterable[str] | None = None) -> dict[str, Any]:
    keys = {} if identifiers is None else {"Identifiers": list(identifiers)}
    return build_command("ManagedApplicationList", **keys)


def installed_application_list(managed_apps_only: bool = True) -> dict[str, Any]:
    """Managed apps only by default: User Enrollment never reports personal apps anyway."""
    return build_command("InstalledApplicationList", ManagedAppsOnly=managed_apps_only)


def certificate_list() -> dict[str, Any]:
    return build_command("CertificateList")


def security_info() -> dict[str, Any]:
    return build_command("SecurityInfo")


def install_application(*, itunes_store_id: int | None = None, manifest_url: str | None = None,
                        purchase_method: int | None = None,
                        configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Install an App Store app (``itunes_store_id``) or an in-house app (``manifest_url``).

    Apple's schema: User Enrollment installs App Store apps through a Volume Purchase
    assignment, ``purchase_method=1``.
    """
    if (itunes_store_id is None) == (manifest_url is None):
        raise CommandError([Problem("error", None, "give exactly one of itunes_store_id and manifest_url")])
    keys: dict[str, Any] = {"iTunesStoreID": itunes_store_id} if manifest_url is None else {"ManifestURL": manifest_url}
    if purchase_method is not None:
        keys["Options"] = {"PurchaseMethod": purchase_method}
    if configuration is not None:
        keys["Configuration"] = dict(configuration)
    return build_command("InstallApplication", **keys)


def remove_application(identifier: str) -> dict[str, Any]:
    return build_command("RemoveApplication", Identifier=identifier)


@dataclass(frozen=True)
class CommandReport:
    """What a device PUT to the command URL: a status, for which command, from which enrollment."""

    status: CommandStatus
    command_uuid: str | None
    udid: str | None
    enrollment_id: str | None
    error_chain: list[dict[str, Any]]
    raw: dict[str, Any]


def _optional_string(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not (isinstance(value, str) and value):
        raise ProtocolError(f"{key} must be a non-empty string")
    if value is not None and plist.has_unstorable_text(value):
        raise ProtocolError(f"{key} contains a control character")
    return value


def _error_chain(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError("ErrorChain must be an array")
    chain = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ProtocolError(f"ErrorChain[{index}] must be a dictionary")
        for key, expected in _ERROR_CHAIN_TYPES.items():
            if key in entry and (not isinstance(entry[key], expected) or isinstance(entry[key], bool)):
                raise ProtocolError(f"ErrorChain[{index}].{key} has the wrong type")
        # only the schema's keys; a binary plist's text may hold a NUL, which PostgreSQL's text refuses
        chain.append({key: plist.storable(entry[key]) for key in _ERROR_CHAIN_TYPES if key in entry})
    return chain


def parse_command_report(body: bytes, *, max_bytes: int = MAX_REPORT_BYTES) -> CommandReport:
    """Decode and validate a command report (``Status``, ``CommandUUID``, ``UDID``/``EnrollmentID``)."""
    try:
        decoded = plist.loads(body, max_bytes=max_bytes)
    except plist.PlistError as exc:
        raise ProtocolError(str(exc)) from None
    status = decoded.get("Status")
    if not isinstance(status, str) or status not in COMMAND_STATUSES:
        raise ProtocolError(f"Status must be one of {', '.join(sorted(COMMAND_STATUSES))}")
    command_uuid = _optional_string(decoded, "CommandUUID")
    if status != "Idle" and command_uuid is None:
        raise ProtocolError(f"a {status} report must name its CommandUUID")
    udid = _optional_string(decoded, "UDID")
    enrollment_id = _optional_string(decoded, "EnrollmentID")
    if udid is None and enrollment_id is None:
        raise ProtocolError("a report must carry UDID (device enrollment) or EnrollmentID (User Enrollment)")
    return CommandReport(status=status, command_uuid=command_uuid if status != "Idle" else None, udid=udid,
                         enrollment_id=enrollment_id, error_chain=_error_chain(decoded.get("ErrorChain")),
                         raw=decoded)


def inventory_commands(enrollment_type: EnrollmentType) -> list[dict[str, Any]]:
    """The commands of one inventory round, managed apps before installed apps.

    ``ManagedApplicationList`` goes first: under User Enrollment the installed-app answer is
    kept only for apps the organisation manages, which that list names.
    """
    return [device_information(enrollment_type), security_info(), managed_application_list(),
            installed_application_list(managed_apps_only=True), profile_list(), certificate_list()]
