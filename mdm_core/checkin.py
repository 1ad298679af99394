"""Parsing of check-in messages (``PUT`` to the CheckInURL, ``application/x-apple-aspen-mdm-checkin``).

The body is untrusted until its ``Mdm-Signature`` has been verified and bound to the
enrollment it names; this module only decides whether it is a well-formed message and
turns it into a typed value. Keys follow Apple's schemas in ``mdm/checkin/*.yaml``.

A message naming an ``EnrollmentID`` comes from a User Enrollment, one naming a ``UDID``
from a device enrollment. Keys User Enrollment forbids (serial number, IMEI, unlock token
...) are dropped from user-enrollment messages even if a device sends them, so they can
never be stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mdm_core import plist
from mdm_core.capabilities import checkin_forbidden_keys

MAX_STRING_LENGTH = 255
MAX_TOKEN_BYTES = 100  # APNs device tokens are 32 bytes today; stored as hex
# Tighter limits for keys whose real values are short (and whose storage is sized for them).
_MAX_LENGTHS = {"OSVersion": 40, "BuildVersion": 40, "ProductName": 80, "Model": 80, "ModelName": 120,
                "PushMagic": 100, "Endpoint": 1024}

# Message types this server handles, with the keys it reads: key -> (plist type, required).
_KEYS: dict[str, dict[str, tuple[type, bool]]] = {
    "Authenticate": {
        "Topic": (str, True),
        "OSVersion": (str, False),
        "BuildVersion": (str, False),
        "ProductName": (str, False),
        "SerialNumber": (str, False),
        "IMEI": (str, False),
        "MEID": (str, False),
        "DeviceName": (str, False),
        "Model": (str, False),
        "ModelName": (str, False),
    },
    "TokenUpdate": {
        "Topic": (str, True),
        "Token": (bytes, True),
        "PushMagic": (str, True),
        "AwaitingConfiguration": (bool, False),
    },
    "CheckOut": {
        "Topic": (str, True),
    },
    "DeclarativeManagement": {
        "Endpoint": (str, True),
        "Data": (bytes, False),
    },
}
HANDLED_MESSAGE_TYPES = frozenset(_KEYS)
# Recognised, but answered 400 "not supported" (see the reference, section 3.2).
UNSUPPORTED_MESSAGE_TYPES = frozenset(
    {"GetToken", "UserAuthenticate", "SetBootstrapToken", "GetBootstrapToken"}
)


class CheckinError(ValueError):
    """The body is not a check-in message this server accepts; the message says why."""


class UnsupportedCheckinMessage(CheckinError):
    """A check-in message type Apple defines but this server does not implement."""

    def __init__(self, message_type: str) -> None:
        super().__init__(f"check-in message type {message_type} is not supported")
        self.message_type = message_type


@dataclass(frozen=True)
class CheckinMessage:
    """One parsed check-in message; fields a message type does not carry are None."""

    message_type: str
    enrollment_type: str
    identifier: str
    topic: str | None = None  # every message type but DeclarativeManagement carries it
    os_version: str | None = None
    build_version: str | None = None
    product_name: str | None = None
    serial_number: str | None = None
    imei: str | None = None
    meid: str | None = None
    device_name: str | None = None
    model: str | None = None
    model_name: str | None = None
    token: str | None = None
    push_magic: str | None = None
    awaiting_configuration: bool | None = None
    endpoint: str | None = None  # DeclarativeManagement: what the device asks for (mdm_core.ddm.documents.parse_endpoint)
    data: bytes | None = None  # DeclarativeManagement: the status report's JSON
    dropped_keys: tuple[str, ...] = ()


_FIELD_BY_KEY = {
    "OSVersion": "os_version",
    "BuildVersion": "build_version",
    "ProductName": "product_name",
    "SerialNumber": "serial_number",
    "IMEI": "imei",
    "MEID": "meid",
    "DeviceName": "device_name",
    "Model": "model",
    "ModelName": "model_name",
    "PushMagic": "push_magic",
    "AwaitingConfiguration": "awaiting_configuration",
    "Endpoint": "endpoint",
    "Data": "data",
}


def parse_checkin(body: bytes) -> CheckinMessage:
    """Parse and validate a check-in body; raise CheckinError for anything malformed."""
    try:
        message = plist.loads(body)
    except plist.PlistError as exc:
        raise CheckinError(str(exc)) from None
    message_type = message.get("MessageType")
    if not isinstance(message_type, str):
        raise CheckinError("MessageType is missing or not a string")
    if message_type in UNSUPPORTED_MESSAGE_TYPES:
        raise UnsupportedCheckinMessage(message_type)
    if message_type not in HANDLED_MESSAGE_TYPES:
        raise CheckinError(f"unknown check-in message type {message_type[:64]!r}")

    enrollment_type, identifier = _enrollment(message)
    forbidden = checkin_forbidden_keys(message_type, enrollment_type)
    dropped = tuple(sorted(key for key in message if key in forbidden))
    fields: dict[str, Any] = {}
    for key, (expected, required) in _KEYS[message_type].items():
        if key in forbidden:
            continue
        value = _typed(message, key, expected, required)
        if value is None:
            continue
        if key == "Token":
            fields["token"] = value.hex()
        elif key == "Topic":
            fields["topic"] = value
        elif key in _FIELD_BY_KEY:
            fields[_FIELD_BY_KEY[key]] = value
    return CheckinMessage(
        message_type=message_type,
        enrollment_type=enrollment_type,
        identifier=identifier,
        dropped_keys=dropped,
        **fields,
    )


def _enrollment(message: dict[str, Any]) -> tuple[str, str]:
    """The enrollment type and identifier: EnrollmentID for user, UDID for device enrollment."""
    has_enrollment_id, has_udid = "EnrollmentID" in message, "UDID" in message
    if has_enrollment_id and has_udid:
        raise CheckinError("message carries both EnrollmentID and UDID")
    if has_enrollment_id:
        return "user", _identifier(message, "EnrollmentID")
    if has_udid:
        return "device", _identifier(message, "UDID")
    raise CheckinError("message carries neither EnrollmentID nor UDID")


def _identifier(message: dict[str, Any], key: str) -> str:
    value = _typed(message, key, str, True)
    if not value.strip():
        raise CheckinError(f"{key} is empty")
    return value


def _typed(message: dict[str, Any], key: str, expected: type, required: bool) -> Any:
    if key not in message:
        if required:
            raise CheckinError(f"{message['MessageType']} requires {key}")
        return None
    value = message[key]
    if type(value) is not expected:
        raise CheckinError(f"{key} must be a {_PLIST_NAMES[expected]}")
    limit = _MAX_LENGTHS.get(key, MAX_STRING_LENGTH)
    if expected is str and len(value) > limit:
        raise CheckinError(f"{key} is longer than {limit} characters")
    if expected is str and plist.has_unstorable_text(value):
        raise CheckinError(f"{key} contains a control character")
    if key == "Token" and not 0 < len(value) <= MAX_TOKEN_BYTES:
        raise CheckinError(f"{key} must hold 1 to {MAX_TOKEN_BYTES} bytes")
    return value


_PLIST_NAMES = {str: "<string>", bytes: "<data>", bool: "<boolean>"}
