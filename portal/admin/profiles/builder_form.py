"""A submitted builder form as a draft profile, and a draft as the profile it builds.

The builder keeps no state between requests: the whole draft (the profile's name and identifier and
each payload's fields, ``p<index>.<path>``) travels in the form, so "add a payload", "remove" and
"save" are submits of the same form and every value the admin typed comes back on the page. An
uploaded file is kept as base64 in a hidden field once read, so it survives those round trips.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from mdm_core import bounded_json
from mdm_core import profile_builders as pb
from mdm_core.capabilities import PLIST_INTEGER_MAX, PLIST_INTEGER_MIN
from mdm_core.profile_references import CERTIFICATE_PAYLOAD_TYPES

from ...ids import parse_int
from .builder_fields import KIND_BY_TYPE, KINDS, USER_IDENTITY_CA, FormField, fields_of, optional_type, restriction_choices

MAX_PAYLOADS = 20
MAX_TEXT = 4096
MAX_FILE_BYTES = 256 * 1024
META = ("display_name", "identifier", "organization", "description")
_INDEX = re.compile(r"p(\d{1,2})\.kind")
_REQUIRED = re.compile(r"\b(\w+) is required")


@dataclass
class DraftPayload:
    slug: str
    values: dict[str, Any] = field(default_factory=dict)  # path -> str, or list of str for multi/refs
    errors: dict[str, str] = field(default_factory=dict)  # path (or "" for the payload) -> message

    @property
    def name(self) -> str:
        return (self.values.get("name") or "").strip() or self.slug


@dataclass
class Draft:
    meta: dict[str, str] = field(default_factory=lambda: dict.fromkeys(META, ""))
    payloads: list[DraftPayload] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # meta field -> message

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(p.errors for p in self.payloads)

    @property
    def certificate_names(self) -> list[str]:
        """The payloads a certificate reference (``Ref``) may name: the certificate and identity payloads."""
        return [p.name for p in self.payloads if KINDS[p.slug].cls.PAYLOAD_TYPE in CERTIFICATE_PAYLOAD_TYPES]

    def add(self, slug: str) -> None:
        """Append an empty payload of kind ``slug`` with a name no other payload has."""
        names = {p.name for p in self.payloads}
        name = next(n for n in (slug if i == 1 else f"{slug}-{i}" for i in range(1, MAX_PAYLOADS + 2))
                    if n not in names)
        self.payloads.append(DraftPayload(slug, {"name": name}))


def draft_from_form(form: Mapping, files: Mapping) -> Draft:
    """The draft a submitted builder form describes (values kept as typed)."""
    draft = Draft(meta={key: (form.get(key) or "")[:MAX_TEXT] for key in META})
    indices = sorted({int(m.group(1)) for key in form if (m := _INDEX.fullmatch(key))})
    for index in indices[:MAX_PAYLOADS]:
        slug = form.get(f"p{index}.kind")
        if slug not in KINDS:
            continue
        payload = DraftPayload(slug)
        prefix = f"p{index}."
        for item in fields_of(slug):
            key = prefix + item.path
            if item.kind in ("multi", "refs"):
                payload.values[item.path] = form.getlist(key)
            elif item.kind == "file":
                payload.values[item.path] = _file_value(files.get(key), form.get(key + ".kept", ""), payload, item)
            elif item.kind == "restrictions":
                payload.values.update({f"settings.{name}": (form.get(f"{prefix}settings.{name}") or "")[:64]
                                       for name in restriction_choices()})
            else:
                payload.values[item.path] = (form.get(key) or "")[:MAX_TEXT]
        if slug == "scep" and form.get(prefix + "user_identity_ca") == "on":
            payload.values["URL"] = USER_IDENTITY_CA
        draft.payloads.append(payload)
    return draft


def _file_value(upload, kept: str, payload: DraftPayload, item: FormField) -> str:
    """The file as base64: a new upload, else the one kept from an earlier round trip."""
    if upload is not None and upload.filename:
        data = upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            payload.errors[item.path] = f"the file is larger than {MAX_FILE_BYTES // 1024} KB"
            return ""
        return base64.b64encode(data).decode()
    return kept[: MAX_FILE_BYTES * 2]


def build(draft: Draft) -> dict[str, Any] | None:
    """The unsigned profile dictionary, or None with the errors set on the draft's fields."""
    for name in ("display_name", "identifier"):
        if not draft.meta[name].strip():
            draft.errors[name] = "required"
    if not draft.payloads:
        draft.errors["payloads"] = "add at least one payload"
    certificates = set(draft.certificate_names)
    payloads = [_payload(p, certificates - {p.name}) for p in draft.payloads]
    if draft.has_errors:
        return None
    try:
        return pb.build_profile(draft.meta["identifier"].strip(), payloads,
                                display_name=draft.meta["display_name"].strip(),
                                organization=draft.meta["organization"].strip() or None,
                                description=draft.meta["description"].strip() or None)
    except pb.BuildError as exc:
        draft.errors["identifier" if "identifier" in str(exc) else "payloads"] = str(exc)
        return None


def _payload(draft: DraftPayload, others: set[str]) -> pb.Payload | None:
    """One payload object from its values; errors go onto ``draft``."""
    cls = KINDS[draft.slug].cls
    top: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    used: set[str] = set()  # groups with a value other than a default: only those are built
    many: set[str] = set()
    for item in fields_of(draft.slug):
        try:
            value = _convert(item, draft, others)
        except ValueError as exc:
            draft.errors[item.path] = str(exc)
            continue
        if item.group is None:
            if value is not None:
                top[item.path] = value
            elif item.required:
                draft.errors[item.path] = "required"
            continue
        groups.setdefault(item.group, {})
        if item.many:
            many.add(item.group)
        if value is not None:
            groups[item.group][item.path.rpartition(".")[2]] = value
            if draft.values.get(item.path) != item.default:
                used.add(item.group)
    hints = typing.get_type_hints(cls)
    for group, values in groups.items():
        if group not in used:
            continue
        missing = [f for f in fields_of(draft.slug) if f.group == group and f.required
                   and f.path.rpartition(".")[2] not in values]
        for item in missing:
            draft.errors[item.path] = f"required when {group} is used"
        if missing:
            continue
        nested_cls, _ = optional_type(hints[group])
        if group in many:
            nested_cls = typing.get_args(nested_cls)[0]
        nested = nested_cls(**values)
        top[group] = (nested,) if group in many else nested
    if draft.errors:
        return None
    try:
        payload = cls(**top)
        payload.check()
    except (TypeError, ValueError) as exc:
        message = str(exc)
        required = _REQUIRED.search(message)
        draft.errors[required.group(1) if required and required.group(1) in draft.values else ""] = message
        return None
    return payload


def _convert(item: FormField, draft: DraftPayload, others: set[str]) -> Any:
    """A field's value in the builder's type (None: leave the key out); ValueError says what is wrong."""
    raw = draft.values.get(item.path)
    if item.kind == "restrictions":
        return _restrictions(draft.values)
    if item.kind in ("multi", "refs"):
        chosen = [v for v in raw or [] if v]
        if item.kind == "refs":
            if set(chosen) - others:
                raise ValueError("choose certificate payloads of this profile")
            return tuple(pb.Ref(name) for name in chosen) or None
        allowed = {value for value, _ in item.choices}
        if set(chosen) - allowed:
            raise ValueError("choose from the list")
        return tuple(int(v) for v in chosen) or None
    text = (raw or "").strip()
    if not text:
        return None
    if item.kind == "file":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("choose the file again") from None
    if item.kind == "bool":
        if text not in ("true", "false"):
            raise ValueError("choose yes or no")
        return text == "true"
    if item.kind == "number":
        number = parse_int(text, minimum=PLIST_INTEGER_MIN, maximum=PLIST_INTEGER_MAX)
        if number is None:
            raise ValueError("must be a whole number")
        return number
    if item.kind == "select":
        if text not in {value for value, _ in item.choices}:
            raise ValueError("choose from the list")
        return int(text) if all(v.isdigit() for v, _ in item.choices) else text
    if item.kind == "ref":
        if text not in others:
            raise ValueError("choose a certificate payload of this profile")
        return pb.Ref(text)
    if item.kind == "lines":
        return tuple(line.strip() for line in text.splitlines() if line.strip()) or None
    if item.kind == "subject":
        return _subject(text)
    if item.kind == "json":
        try:
            value = bounded_json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object, such as {"key": "value"}')
        return value
    return text


def _subject(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in text.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals or not re.fullmatch(r"[A-Za-z][A-Za-z0-9.]{0,40}", name.strip()) or not value.strip():
            raise ValueError("write NAME=value pairs separated by commas, such as O=Example, CN=$EMAIL")
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def _restrictions(values: Mapping[str, Any]) -> dict[str, Any] | None:
    settings: dict[str, Any] = {}
    for name in restriction_choices():
        text = (values.get(f"settings.{name}") or "").strip()
        if text in ("true", "false"):
            settings[name] = text == "true"
        elif text and name == "ratingRegion":
            settings[name] = text
        elif text:
            raise ValueError(f"{name}: choose yes or no")
    return settings or None


def draft_from_profile(profile: Mapping[str, Any]) -> Draft | None:
    """The builder's draft of a stored profile, or None when the form cannot hold all of it (a payload kind
    or key it does not offer): such a profile is edited by uploading a new file."""
    identifier = profile.get("PayloadIdentifier") or ""
    draft = Draft(meta={"display_name": profile.get("PayloadDisplayName") or "", "identifier": identifier,
                        "organization": profile.get("PayloadOrganization") or "",
                        "description": profile.get("PayloadDescription") or ""})
    contents = profile.get("PayloadContent") or []
    names = {}
    for item in contents:
        name = str(item.get("PayloadIdentifier") or "").removeprefix(f"{identifier}.")
        names[item.get("PayloadUUID")] = name
    for item in contents:
        kind = KIND_BY_TYPE.get(item.get("PayloadType"))
        if kind is None:
            return None
        values = _values_of(kind.slug, item, names)
        if values is None:
            return None
        values["name"] = names[item.get("PayloadUUID")]
        draft.payloads.append(DraftPayload(kind.slug, values))
    return draft


_COMMON = {"PayloadType", "PayloadVersion", "PayloadIdentifier", "PayloadUUID", "PayloadDisplayName",
           "PayloadDescription"}


def _values_of(slug: str, payload: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any] | None:
    cls = KINDS[slug].cls
    keys = dict(payload[cls.CONTENT_KEY]) if cls.CONTENT_KEY else {k: v for k, v in payload.items() if k not in _COMMON}
    values: dict[str, Any] = {"PayloadDisplayName": payload.get("PayloadDisplayName") or "",
                              "PayloadDescription": payload.get("PayloadDescription") or ""}
    if slug == "restrictions":
        if set(keys) - set(restriction_choices()):
            return None
        values.update({f"settings.{k}": _form_text(v, "text", names) for k, v in keys.items()})
        return values
    apple = {f.name: f.metadata.get("key") or f.name for f in dataclasses.fields(cls)}
    used: set[str] = set()
    for item in fields_of(slug):
        if item.path in ("name", "PayloadDisplayName", "PayloadDescription"):
            continue
        if item.group is None:
            source, key = keys, apple.get(item.path, item.path)
            used.add(key)
        else:
            source = keys.get(item.group)
            used.add(item.group)
            source = source[0] if isinstance(source, list) and source else source
            if not isinstance(source, Mapping):
                continue
            key = item.path.rpartition(".")[2]
        if key in source:
            values[item.path] = _form_text(source[key], item.kind, names)
    return values if set(keys) <= used | {"VPNUUID"} else None


def _form_text(value: Any, kind: str, names: Mapping[str, str]) -> Any:
    """A plist value as the form shows it."""
    if kind == "refs":
        return [names.get(v, "") for v in value or []]
    if kind == "multi":
        return [str(v) for v in value or []]
    if kind == "ref":
        return names.get(value, "")
    if kind == "file":
        return base64.b64encode(bytes(value)).decode()
    if kind == "lines":
        return "\n".join(str(v) for v in value or [])
    if kind == "subject":
        return ", ".join(f"{rdn[0][0]}={rdn[0][1]}" for rdn in value or [] if rdn and len(rdn[0]) == 2)
    if kind == "json":
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
