"""The shape every payload builder shares, and the assembler that wraps payloads into a profile.

A payload kind is a frozen dataclass whose fields carry Apple's key names (as the schema YAML
spells them), so a form, the dataclass and the plist agree on one name. ``None`` means "leave
the key out" (the device's default applies). Identifiers are derived, not random: a payload's
``PayloadIdentifier`` is ``<profile identifier>.<name>`` and its ``PayloadUUID`` a UUID-5 of
that, so an edited profile keeps them and the phone replaces rather than duplicates it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mdm_core import plist
from mdm_core.profile_references import CERTIFICATE_PAYLOAD_TYPES

#: Namespace of the UUID-5s derived here (itself a UUID-5 of this module's purpose).
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:byod-mdm:configuration-profile")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
_META_FIELDS = frozenset({"name", "PayloadDisplayName", "PayloadDescription", "PayloadOrganization"})


class BuildError(ValueError):
    """The values cannot make this payload or profile; the message names the payload and field."""


@dataclass(frozen=True)
class Ref:
    """A certificate or identity payload of the same profile, by its ``name``; it becomes that payload's
    ``PayloadUUID`` (Wi-Fi EAP-TLS naming its SCEP identity, a VPN naming its certificate). Naming a payload
    of another kind is a :class:`BuildError`."""

    name: str


def key(apple_key: str, *, default: Any = None, convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field whose plist key is not a Python name (``"Key Type"``) or whose value needs
    converting into the plist's shape."""
    return dataclasses.field(default=default, metadata={"key": apple_key, "convert": convert})


@dataclass(frozen=True, kw_only=True)
class Keys:
    """A dictionary of Apple keys nested in a payload (``EAPClientConfiguration``, ``IKEv2``...)."""

    def to_plist(self) -> dict[str, Any]:
        """The keys that are set, Apple-named, values converted to plist shapes."""
        values = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in _META_FIELDS or value is None:
                continue
            convert = item.metadata.get("convert")
            values[item.metadata.get("key") or item.name] = convert(value) if convert else _plist_value(value)
        return values


@dataclass(frozen=True, kw_only=True)
class Payload(Keys):
    """One payload: its type, the common display keys and ``name``, unique within the profile, from
    which its identifiers derive (default: the type's last part and a counter, ``wifi.managed.1``)."""

    PAYLOAD_TYPE: ClassVar[str]
    #: The default ``PayloadDisplayName``: what the phone's Settings shows for the payload.
    TITLE: ClassVar[str]
    #: Payloads whose own keys live in a ``PayloadContent`` dictionary (SCEP) name it here.
    CONTENT_KEY: ClassVar[str | None] = None
    #: Fields that must hold a non-empty value (a form may send empty strings).
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    name: str | None = None
    PayloadDisplayName: str | None = None
    PayloadDescription: str | None = None
    PayloadOrganization: str | None = None

    def check(self) -> None:
        """Raise :class:`BuildError` for a missing required value; subclasses add their own rules."""
        for name in self.REQUIRED:
            if getattr(self, name) in (None, "", ()):
                raise BuildError(f"{self.PAYLOAD_TYPE}: {name} is required")

    def complete(self, keys: dict[str, Any], payload_identifier: str) -> dict[str, Any]:
        """Fill keys derived from the payload's identity (a per-app VPN's ``VPNUUID``); none by default."""
        return keys


def payload_uuid(identifier: str) -> str:
    """The stable ``PayloadUUID`` for a payload or profile identifier."""
    return str(uuid.uuid5(UUID_NAMESPACE, identifier)).upper()


def build_profile(identifier: str, payloads: Sequence[Payload], *, display_name: str,
                  organization: str | None = None, description: str | None = None,
                  profile_uuid: str | None = None) -> dict[str, Any]:
    """The ``Configuration`` dictionary wrapping ``payloads`` (unsigned; signing is ``mdm_core.cms``'s job).

    ``PayloadIdentifier`` is ``identifier``, so every revision replaces the last on the phone.
    The top-level ``PayloadUUID`` (unless given) derives from the identifier and the payloads'
    content: each revision has its own, and a ``ProfileList`` answer tells which one a phone holds.
    ``PayloadRemovalDisallowed`` is left out (false): User Enrollment forbids the key itself.
    """
    if not isinstance(identifier, str) or not _IDENTIFIER.fullmatch(identifier):
        raise BuildError(f"profile identifier {str(identifier)[:80]!r} must be 1-200 letters, digits, '.', '_' "
                         "or '-' (reverse-DNS style, e.g. com.example.wifi)")
    if not isinstance(display_name, str) or not display_name.strip():
        raise BuildError("a profile needs a display name")
    if not payloads:
        raise BuildError("a profile needs at least one payload")
    names = _names(payloads)
    uuids = {name: payload_uuid(f"{identifier}.{name}") for name in names}
    # every Ref is a certificate reference: _resolve refuses one naming a payload of another kind
    kinds = {name: payload.PAYLOAD_TYPE for name, payload in zip(names, payloads)}
    content = [_payload_dict(payload, name, identifier, uuids, kinds) for payload, name in zip(payloads, names)]
    top: dict[str, Any] = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": profile_uuid or payload_uuid(f"{identifier}#{_digest(content)}"),
        "PayloadDisplayName": display_name,
        "PayloadContent": content,
    }
    if organization:
        top["PayloadOrganization"] = organization
    if description:
        top["PayloadDescription"] = description
    return top


def _names(payloads: Sequence[Payload]) -> list[str]:
    names: list[str] = []
    counts: dict[str, int] = {}
    for index, payload in enumerate(payloads):
        if not isinstance(payload, Payload):
            raise BuildError(f"payload {index} is a {type(payload).__name__}, not a payload builder")
        if payload.name is None:
            short = payload.PAYLOAD_TYPE.removeprefix("com.apple.")
            counts[short] = counts.get(short, 0) + 1
            name = f"{short}.{counts[short]}"
        else:
            name = payload.name
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise BuildError(f"payload {index}: name {str(name)[:80]!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if name in names:
            raise BuildError(f"payload {index}: another payload of this profile is already named {name!r}")
        names.append(name)
    return names


def _payload_dict(payload: Payload, name: str, identifier: str, uuids: Mapping[str, str],
                  kinds: Mapping[str, str]) -> dict[str, Any]:
    payload.check()
    payload_identifier = f"{identifier}.{name}"
    keys = payload.complete(payload.to_plist(), payload_identifier)
    resolved = _resolve(keys, uuids, kinds, name)
    result: dict[str, Any] = {
        "PayloadType": payload.PAYLOAD_TYPE,
        "PayloadVersion": 1,
        "PayloadIdentifier": payload_identifier,
        "PayloadUUID": uuids[name],
        "PayloadDisplayName": payload.PayloadDisplayName or payload.TITLE,
    }
    for meta in ("PayloadDescription", "PayloadOrganization"):
        if getattr(payload, meta):
            result[meta] = getattr(payload, meta)
    if payload.CONTENT_KEY:
        result[payload.CONTENT_KEY] = resolved
    else:
        result.update(resolved)
    return result


def _plist_value(value: Any) -> Any:
    if isinstance(value, Keys):
        return value.to_plist()
    if isinstance(value, (list, tuple)):
        return [_plist_value(item) for item in value]
    if isinstance(value, Mapping):
        return {name: _plist_value(item) for name, item in value.items()}
    return value


def _resolve(value: Any, uuids: Mapping[str, str], kinds: Mapping[str, str], owner: str) -> Any:
    if isinstance(value, Ref):
        if value.name not in uuids:
            raise BuildError(f"payload {owner!r} refers to {value.name!r}, which names no payload of this profile")
        if kinds[value.name] not in CERTIFICATE_PAYLOAD_TYPES:
            raise BuildError(f"payload {owner!r} refers to {value.name!r}, a {kinds[value.name]} payload, "
                             "not a certificate or identity payload")
        return uuids[value.name]
    if isinstance(value, list):
        return [_resolve(item, uuids, kinds, owner) for item in value]
    if isinstance(value, dict):
        return {name: _resolve(item, uuids, kinds, owner) for name, item in value.items()}
    return value


def _digest(content: list[dict[str, Any]]) -> str:
    try:
        encoded = plist.dumps({"PayloadContent": content})
    except (TypeError, ValueError, OverflowError) as exc:
        raise BuildError(f"a value cannot be written into a property list: {exc}") from None
    return hashlib.sha256(encoded).hexdigest()
