"""Settings kept in the database, with their defaults, and the typed, validated enrollment settings.

``EnrollmentSettings`` is the one place the admin page, the API (``/api/v1/settings/enrollment``)
and the enrollment pages read and write user-initiated enrollment settings.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from . import default_texts
from .extensions import db
from .i18n import LANGUAGES
from .models import Setting

DEFAULT_ORGANIZATION = "BYOD MDM"
ENROLLMENT_KEY_PREFIX = "enrollment."
MAX_TEXT = 20_000
MAX_LIST = 200
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_LANGUAGE = re.compile(r"^(default|[a-z]{2,3}(-[a-z0-9]{2,8})*)$")
# C0 and C1 controls, DEL and lone surrogates (which UTF-8 cannot encode); multi-line text keeps \t and \n.
_CONTROL_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

DEFAULT_PRIVACY_DISCLOSURE = """\
## What your organisation can see and do

This is **User Enrollment**: your personal data and your organisation's data are kept apart on the device.

**IT can:**
- install and remove the apps, accounts and settings the organisation manages (Wi-Fi, per-app VPN, mail,
  certificates);
- see the names and versions of the apps it manages, and the settings and profiles it installed;
- see basic device facts: model, iOS version, device name, storage capacity, battery level;
- require that the device has a passcode, and lock the screen (you unlock it with your own passcode);
- remove the organisation's apps and data (only those) from the device.

**IT cannot:**
- see your personal email, messages, photos, browsing history, calendar, contacts or location;
- see or remove your personal apps and data;
- see your device's serial number, phone number or other hardware identifiers;
- locate your device or put it in Lost Mode;
- erase your device, clear or reset its passcode, or restart it.

You can end the enrollment at any time in *Settings › General › VPN & Device Management*. Doing so removes
the organisation's apps and data and nothing else.
"""

DEFAULT_ENROLLMENT_TEXT = """\
Enroll your own iPhone or iPad so you can use the organisation's apps and data on it.
Your personal data stays private.
"""


class SettingsValidationError(ValueError):
    """Some submitted settings are invalid; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def get_setting(key: str, default: Any = None) -> Any:
    row = db.session.get(Setting, key)
    return default if row is None or row.value is None else row.value


def set_setting(key: str, value: Any) -> None:
    """Store ``value`` under ``key`` in the session (insert or update); the caller commits."""
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value


def organization_name() -> str:
    """The stored name, or the default when it is unset or no longer validates (as for the other settings)."""
    try:
        return _text(get_setting("organization_name"), required=True, limit=200, multiline=False)
    except ValueError:
        return DEFAULT_ORGANIZATION


@dataclass(frozen=True)
class EnrollmentSettings:
    """User-initiated enrollment settings (DESIGN.md section 6), with their defaults."""

    profile_driven_enabled: bool = True
    account_driven_enabled: bool = False
    legacy_device_enrollment_enabled: bool = False
    managed_domains: list[str] = field(default_factory=list)
    allowed_domains: list[str] = field(default_factory=list)
    allowed_groups: list[str] = field(default_factory=list)
    max_devices_per_user: int | None = 3
    organization_name: str = DEFAULT_ORGANIZATION
    enrollment_text: dict[str, str] = field(default_factory=lambda: {"default": DEFAULT_ENROLLMENT_TEXT})
    privacy_disclosure: str = DEFAULT_PRIVACY_DISCLOSURE
    # the disclosure in other shipped languages; ``privacy_disclosure`` is the default language's
    privacy_disclosure_translations: dict[str, str] = field(default_factory=dict)
    # the language of pages and mail when neither the phone nor the browser names a shipped one
    default_language: str = "en"

    @property
    def privacy_disclosure_version(self) -> str:
        """A short hash of the disclosure text: an acknowledgement is valid only for the text it was given for."""
        text = self.privacy_disclosure
        if self.privacy_disclosure_translations:  # a changed translation asks everyone again too
            text += json.dumps(self.privacy_disclosure_translations, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def disclosure_for(self, language: str) -> str:
        """The privacy disclosure in ``language`` (a shipped language), else the default language's; while the
        organisation keeps the built-in text, the built-in translation."""
        own = self.privacy_disclosure_translations.get(language)
        if own:
            return own
        if self.privacy_disclosure == DEFAULT_PRIVACY_DISCLOSURE:
            return default_texts.PRIVACY_DISCLOSURE.get(language, self.privacy_disclosure)
        return self.privacy_disclosure

    def text_for(self, languages: list[str]) -> str:
        """The enrollment page text for the first of ``languages`` that has one, else the default."""
        for language in languages:
            language = language.lower()
            for candidate in (language, language.split("-")[0]):
                if self.enrollment_text.get(candidate):
                    return self.enrollment_text[candidate]
        default = self.enrollment_text.get("default", "")
        if default == DEFAULT_ENROLLMENT_TEXT:  # the built-in text: in the first shipped language asked for
            for language in languages:
                base = language.lower().split("-")[0]
                if base in LANGUAGES:
                    return default_texts.ENROLLMENT_TEXT.get(base, default)
        return default

    def domain_allowed(self, domain: str) -> bool:
        """Allowed domains, else the managed domains, else any domain."""
        allowed = self.allowed_domains or self.managed_domains
        return not allowed or domain.lower() in allowed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FIELD_NAMES = tuple(f.name for f in fields(EnrollmentSettings))
# organization_name predates these settings and keeps its own key, which the profile builder reads.
_STORAGE_KEY = {name: ENROLLMENT_KEY_PREFIX + name for name in FIELD_NAMES} | {"organization_name": "organization_name"}


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _text(value: Any, *, required: bool = False, limit: int = MAX_TEXT, multiline: bool = True) -> str:
    """Text without control characters: property lists cannot hold them (the organization name goes
    into every enrollment profile) and no page needs them; Markdown keeps its line breaks and tabs."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise ValueError("must not be empty")
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    control = (_CONTROL_IN_TEXT if multiline else _CONTROL_IN_LINE).search(value)
    if control:
        raise ValueError(f"must not contain control characters (found U+{ord(control.group()):04X})")
    return value


def _domains(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ValueError(f"must be a list of at most {MAX_LIST} domain names")
    result: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _DOMAIN.match(item.strip().lower().rstrip(".")):
            raise ValueError(f"{str(item)[:80]!r} is not a domain name (for example example.org)")
        domain = item.strip().lower().rstrip(".")
        if domain not in result:
            result.append(domain)
    return result


def _groups(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ValueError(f"must be a list of at most {MAX_LIST} group names")
    result: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > 255:
            raise ValueError("each group must be a non-empty string of at most 255 characters")
        if item.strip() not in result:
            result.append(item.strip())
    return result


def _limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ValueError("must be a whole number from 1 to 1000, or null for no limit")
    return value


def _enrollment_text(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 50:
        raise ValueError('must be an object of language code to Markdown text, with a "default"')
    result: dict[str, str] = {}
    for language, text in value.items():
        code = str(language).strip().lower()
        if not _LANGUAGE.match(code):
            raise ValueError(f"{str(language)[:20]!r} is not a language code (for example en, de, pt-br)")
        cleaned = _text(text)
        if cleaned:
            result[code] = cleaned
    if not result.get("default"):
        raise ValueError('needs a non-empty "default" text')
    return result


def _disclosure_translations(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be an object of language code to Markdown text")
    result: dict[str, str] = {}
    for language, text in value.items():
        if language not in LANGUAGES:
            raise ValueError(f"{str(language)[:20]!r} is not a shipped language ({', '.join(LANGUAGES)})")
        if cleaned := _text(text):
            result[language] = cleaned
    return result


def _default_language(value: Any) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
    return value


_VALIDATORS = {
    "profile_driven_enabled": _bool,
    "account_driven_enabled": _bool,
    "legacy_device_enrollment_enabled": _bool,
    "managed_domains": _domains,
    "allowed_domains": _domains,
    "allowed_groups": _groups,
    "max_devices_per_user": _limit,
    "organization_name": lambda v: _text(v, required=True, limit=200, multiline=False),
    "enrollment_text": _enrollment_text,
    "privacy_disclosure": lambda v: _text(v, required=True),
    "privacy_disclosure_translations": _disclosure_translations,
    "default_language": _default_language,
}


def load_enrollment_settings() -> EnrollmentSettings:
    """The stored settings over the defaults (a stored value that no longer validates falls back)."""
    rows = db.session.scalars(db.select(Setting).where(Setting.key.in_(list(_STORAGE_KEY.values())))).all()
    stored = {row.key: row.value for row in rows}
    values: dict[str, Any] = {}
    for name, key in _STORAGE_KEY.items():
        if key in stored:
            try:
                values[name] = _VALIDATORS[name](stored[key])
            except ValueError:
                continue
    return replace(EnrollmentSettings(), **values)


def validate_enrollment_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a partial update; raises SettingsValidationError naming every bad or unknown field."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in _VALIDATORS:
            errors[str(name)[:100]] = "unknown setting"
            continue
        try:
            cleaned[name] = _VALIDATORS[name](value)
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise SettingsValidationError(errors)
    return cleaned


def update_enrollment_settings(changes: Mapping[str, Any]) -> tuple[EnrollmentSettings, dict[str, Any]]:
    """Validate and store a partial update; returns the new settings and the fields that changed.

    The caller records the audit event and commits.
    """
    cleaned = validate_enrollment_changes(changes)
    current = load_enrollment_settings()
    changed = {name: value for name, value in cleaned.items() if getattr(current, name) != value}
    for name, value in changed.items():
        set_setting(_STORAGE_KEY[name], value)
    return replace(current, **changed), changed
