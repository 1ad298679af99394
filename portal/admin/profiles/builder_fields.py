"""The builder's forms, derived from the payload builders' dataclasses (``mdm_core.profile_builders``).

Every payload kind is one dataclass whose fields carry Apple's key names and types, so one generic
renderer covers them all: a field's type says which input it gets (text, number, yes/no, a choice
from a ``Literal``, lines for a tuple of strings, a file for bytes, a link to another payload for a
``Ref``), and nested key dictionaries (``EAPClientConfiguration``, ``IKEv2``) become a group of
fields named ``Outer.Inner``. Only labels, help and a few hidden keys are written by hand here.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Union

from mdm_core import profile_builders as pb
from mdm_core.profile_builders.base import Keys
from mdm_core.profile_variables import VARIABLES


@dataclass(frozen=True)
class PayloadKind:
    slug: str
    cls: type[pb.Payload]
    title: str
    help: str = ""


KINDS: dict[str, PayloadKind] = {kind.slug: kind for kind in (
    PayloadKind("wifi", pb.WiFi, "Wi-Fi", "WPA2/WPA3 personal (a password) or enterprise: for EAP-TLS add an "
                "identity payload (SCEP, ACME or PKCS#12) and pick it as the certificate."),
    PayloadKind("exchange", pb.ExchangeActiveSync, "Exchange ActiveSync"),
    PayloadKind("mail", pb.MailAccount, "Mail (IMAP/SMTP)"),
    PayloadKind("caldav", pb.CalDAVAccount, "CalDAV calendar"),
    PayloadKind("carddav", pb.CardDAVAccount, "CardDAV contacts"),
    PayloadKind("subscribed_calendar", pb.SubscribedCalendar, "Subscribed calendar"),
    PayloadKind("ldap", pb.LDAPAccount, "LDAP directory"),
    PayloadKind("per_app_vpn", pb.PerAppVPN, "Per-app VPN", "Fill the IKEv2 group for VPNType IKEv2, or the "
                "VPN group and VPNSubType (the VPN app's bundle ID) for VPNType VPN."),
    PayloadKind("root_certificate", pb.RootCertificate, "Root certificate (CA)", "PEM or DER."),
    PayloadKind("pkcs1_certificate", pb.PKCS1Certificate, "Certificate (PEM/DER)"),
    PayloadKind("pkcs12_identity", pb.PKCS12Identity, "Identity (PKCS#12)"),
    PayloadKind("scep", pb.SCEPIdentity, "Identity (SCEP)", "Choose the server's built-in user identity CA to "
                "give each device a certificate naming its user (one-time challenge per device), or an external "
                "SCEP server's URL."),
    PayloadKind("acme", pb.ACMEIdentity, "Identity (ACME)"),
    PayloadKind("web_clip", pb.WebClip, "Web clip"),
    PayloadKind("passcode", pb.PasscodePolicy, "Passcode policy", "User Enrollment only enforces that a passcode "
                "exists; the other keys are ignored there (the checker warns)."),
    PayloadKind("restrictions", pb.Restrictions, "Restrictions", "Only the restrictions User Enrollment allows "
                "are offered."),
    PayloadKind("sso", pb.ExtensibleSSO, "Single sign-on extension"),
)}
KIND_BY_TYPE = {kind.cls.PAYLOAD_TYPE: kind for kind in KINDS.values()}

#: Keys the builder derives itself or that a form should not offer.
HIDDEN = frozenset({"VPNUUID", "CAFingerprint", "PayloadOrganization"})
#: ``SCEPIdentity.URL`` set to this choice means the built-in user identity CA.
USER_IDENTITY_CA = "urn:byod-mdm:user-identity-scep"
EAP_CHOICES = ((str(pb.EAP_TLS), "EAP-TLS (certificate)"), (str(pb.EAP_TTLS), "EAP-TTLS"), (str(pb.EAP_PEAP), "PEAP"))
VARIABLE_HELP = ("Text fields may use per-user variables, filled in for each device when the profile is sent: "
                 + ", ".join("$" + name for name in VARIABLES) + " ($USERNAME is the Managed Apple ID before @). "
                 "Write $$ for a literal $.")
_HELP = {
    "name": "Unique within the profile; other payloads link to it by this name.",
    "PayloadDisplayName": "What the phone's Settings shows for this payload.",
    "SSID_STR": "The network name.",
    "Password": "Leave empty to let the person type it.",
    "PayloadCertificateUUID": "The identity payload (SCEP, ACME, PKCS#12) of this profile to use.",
    "PayloadCertificateAnchorUUID": "Certificates of this profile the server's certificate must chain to.",
    "EmailAddress": "For example $EMAIL.",
    "UserName": "For example $USERNAME or $EMAIL.",
    "Subject": "Relative distinguished names, such as O=Example, CN=$EMAIL.",
    "SCEPIdentity.URL": "The external SCEP server's URL (not needed with the user identity CA above).",
    "WebClip.URL": "The http(s) address the icon opens.",
    "SubCalAccountHostName": "The calendar's URL.",
    "VPNSubType": "The bundle ID of the VPN app (VPNType VPN).",
    "ExtensionData": "A JSON object of the extension's own keys.",
    "settings": "Set a restriction to No to restrict it; leave it unset to keep the phone's default.",
}


@dataclass(frozen=True)
class FormField:
    """One input: ``path`` is its Apple key (``Outer.Inner`` when nested), ``kind`` the input it gets."""

    path: str
    kind: str  # text, password, number, bool, select, lines, file, ref, refs, multi, subject, json, restrictions
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    default: str = ""
    help: str = ""
    group: str | None = None  # the nested dictionary it belongs to (its legend)
    many: bool = False  # the group is a tuple of dictionaries (one is offered)

    @property
    def label(self) -> str:
        return self.path.rpartition(".")[2]


def optional_type(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); a union of several other types stays as it is."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) < len(typing.get_args(hint)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True
    return hint, False


def _is_ref(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType) and pb.Ref in typing.get_args(hint)


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field(path: str, hint: Any, field: dataclasses.Field, required: bool, group: str | None, owner: type
           ) -> FormField | tuple[FormField, ...]:
    base, _ = optional_type(hint)
    origin, args = typing.get_origin(base), typing.get_args(base)
    default = _default(field)
    common = {"required": required, "help": _HELP.get(f"{owner.__name__}.{field.name}", _HELP.get(field.name, "")),
              "group": group}
    if _is_ref(base):
        return FormField(path, "ref", **common)
    if base is bool:
        return FormField(path, "bool", default=_text(default), **common)
    if base is int:
        return FormField(path, "number", default=_text(default), **common)
    if base is bytes:
        return FormField(path, "file", **common)
    if base is str:
        secret = "Password" in field.name or field.name in ("SharedSecret", "Challenge")
        return FormField(path, "password" if secret else "text", default=_text(default), **common)
    if origin is Literal:
        return FormField(path, "select", choices=tuple((str(a), str(a)) for a in args), default=_text(default),
                         **common)
    if origin is tuple and args and args[-1] is Ellipsis:
        item = args[0]
        if _is_ref(item):
            return FormField(path, "refs", **common)
        if item is int:
            return FormField(path, "multi", choices=EAP_CHOICES, **common)
        if item is str:
            return FormField(path, "lines", **common)
        if typing.get_origin(item) is tuple:
            return FormField(path, "subject", **common)
        if isinstance(item, type) and issubclass(item, Keys):
            return tuple(dataclasses.replace(f, many=True) for f in _fields(item, f"{path}.", path))
    if isinstance(base, type) and issubclass(base, Keys):
        return _fields(base, f"{path}.", path)
    if origin is Mapping or base is Mapping:
        return FormField(path, "restrictions" if field.name == "settings" else "json", **common)
    raise TypeError(f"no form input for {path}: {hint!r}")  # a new builder type needs a line here


@lru_cache(maxsize=None)
def _fields(cls: type, prefix: str = "", group: str | None = None) -> tuple[FormField, ...]:
    hints = typing.get_type_hints(cls)
    required_names = getattr(cls, "REQUIRED", ())
    out: list[FormField] = []
    for field in dataclasses.fields(cls):
        if field.name in HIDDEN:
            continue
        required = field.name in required_names or (
            group is not None and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING)
        made = _field(prefix + field.name, hints[field.name], field, required, group, cls)
        out.extend(made if isinstance(made, tuple) else (made,))
    return tuple(out)


def fields_of(slug: str) -> tuple[FormField, ...]:
    """The inputs of a payload kind's form, in the dataclass's order (``name`` and display keys first)."""
    return _fields(KINDS[slug].cls)


def restriction_choices() -> tuple[str, ...]:
    """The restriction keys a user-enrolled phone accepts (the form offers no other)."""
    return pb.restriction_keys("user")
