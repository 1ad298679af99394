"""Command results: keep only what the enrollment may reveal, then read them as inventory.

A device's report is untrusted. Before anything is stored, :func:`sanitize_report` keeps an
allow-list of keys per ``RequestType`` and makes what it keeps storable (``mdm_core.plist.storable``); under User
Enrollment it also keeps, at every depth, only what the schema's answer lists for iOS and does not forbid
(``revealed``: no UDID, SerialNumber, IMEI, passcode details...), only managed profiles, and only the apps the
organisation manages, even when a hostile device volunteers more. :func:`parse_inventory` then reads a sanitised
report into plain records for the inventory tables.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from mdm_core import plist
from mdm_core.commands import MAX_REPORT_BYTES
from mdm_core.capabilities import (ANY_KEY, EnrollmentType, KeySpec, allowed_device_information_queries, command_spec,
                                   forbidden_for_user_enrollment)

#: Keys of every report: which command, which status, which enrollment.
ENVELOPE_KEYS = frozenset({"Status", "CommandUUID", "EnrollmentID", "UDID", "ErrorChain"})
#: Command-specific response keys kept per RequestType; any other key is dropped.
RESPONSE_KEYS: Mapping[str, frozenset[str]] = {
    "DeviceInformation": frozenset({"QueryResponses"}),
    "SecurityInfo": frozenset({"SecurityInfo"}),
    "ProfileList": frozenset({"ProfileList"}),
    "CertificateList": frozenset({"CertificateList"}),
    "InstalledApplicationList": frozenset({"InstalledApplicationList"}),
    "ManagedApplicationList": frozenset({"ManagedApplicationList"}),
    "InstallApplication": frozenset({"Identifier", "State"}),
    "ManagedApplicationAttributes": frozenset({"ApplicationAttributes"}),
    "ManagedApplicationConfiguration": frozenset({"ApplicationConfigurations"}),
    "ManagedApplicationFeedback": frozenset({"ManagedApplicationFeedback"}),
    "ManagedMediaList": frozenset({"Books"}),
    "ProvisioningProfileList": frozenset({"ProvisioningProfileList"}),
}
#: ManagedApplicationList statuses of apps the organisation manages (all but "UserInstalledApp"-like ones).
UNMANAGED_APP_STATUSES = frozenset({"UserInstalledApp", "UserRejected", "Unknown"})
INVENTORY_REQUEST_TYPES = frozenset({"DeviceInformation", "SecurityInfo", "ProfileList", "CertificateList",
                                     "InstalledApplicationList", "ManagedApplicationList"})
MAX_TEXT = 255


class ResultError(ValueError):
    """A command result does not have the shape its RequestType defines."""


@dataclass(frozen=True)
class SanitizedReport:
    """A report reduced to what may be stored; ``dropped`` names (never holds) what was removed."""

    data: dict[str, Any]
    dropped: tuple[str, ...] = ()


def sanitize_report(request_type: str, enrollment_type: EnrollmentType, report: Mapping[str, Any], *,
                    managed_app_identifiers: Collection[str] = ()) -> SanitizedReport:
    """The report with only the keys this enrollment type may reveal.

    ``managed_app_identifiers`` are the apps the organisation manages on the device; under User
    Enrollment an ``InstalledApplicationList`` keeps only those.
    """
    if not isinstance(report, Mapping):
        raise ResultError("a command report must be a dictionary")
    user = enrollment_type == "user"
    allowed = ENVELOPE_KEYS | RESPONSE_KEYS.get(request_type, frozenset())
    if user:
        allowed = allowed - {"UDID"}
    dropped = [str(key) for key in report if key not in allowed]
    data = {key: value for key, value in report.items() if key in allowed}
    if user:
        cleaner = _USER_ENROLLMENT_CLEANERS.get(request_type)
        if cleaner is not None:
            dropped.extend(cleaner(data, set(managed_app_identifiers)))
        if request_type in _LIST_ANSWERS:
            dropped.extend(_reveal_entries(request_type, data))
    return SanitizedReport(data=plist.storable(data), dropped=tuple(dropped))


def stored_result(sanitized: Mapping[str, Any]) -> bytes:
    """A sanitised report as it is stored (``commands.result``): its XML plist, or, when that is larger than a
    report may be (``MAX_REPORT_BYTES``, what the pages and the API read back), only who answered which command and
    ``NotKept`` saying why. A binary plist refers to one value many times for a few bytes each, and XML writes the
    value at each place (indented): an answer well under the limit could come back several times over it."""
    body = plist.dumps(sanitized)
    if len(body) <= MAX_REPORT_BYTES:
        return body
    return plist.dumps({**{key: sanitized[key] for key in ("Status", "CommandUUID", "EnrollmentID", "UDID")
                           if key in sanitized},
                        "NotKept": f"the answer, {len(body)} bytes as XML, was larger than the {MAX_REPORT_BYTES} "
                                   "bytes a stored result holds: not kept (an inventory answer still updated the "
                                   "device's inventory)"})


def _drop_malformed(data: dict[str, Any], key: str) -> list[str]:
    """A response of the wrong shape cannot be filtered key by key, so none of it is kept."""
    if key not in data:
        return []
    del data[key]
    return [key]


_USER_ENROLLMENT_QUERIES = frozenset(allowed_device_information_queries("user"))


#: Each table's wildcard by the table's id, with the table itself, so an id reused by another mapping is never
#: taken for it (the tables live as long as the module; a mapping built for one call is looked up again).
_WILDCARDS: dict[int, tuple[Mapping[str, KeySpec], KeySpec | None]] = {}


def _any_key(specs: Mapping[str, KeySpec]) -> KeySpec | None:
    """The schema's wildcard among ``specs``: ``ANY``, or ``ANY`` and what it stands for (``ANY app identifier``).
    Found once per table: a report of many unknown keys costs a lookup each, not a walk of the table each."""
    cached = _WILDCARDS.get(id(specs))
    if cached is not None and cached[0] is specs:
        return cached[1]
    wildcard = specs.get(ANY_KEY) or next(
        (spec for name, spec in specs.items() if name.startswith(f"{ANY_KEY} ")), None)
    if isinstance(specs, MappingProxyType):  # a table: kept; anything else is looked up at each call
        _WILDCARDS[id(specs)] = (specs, wildcard)
    return wildcard


def revealed(value: Mapping[str, Any], specs: Mapping[str, KeySpec], path: str, dropped: list[str]) -> dict[str, Any]:
    """What of an answer User Enrollment lets a device reveal: the keys its schema lists for iOS and does not
    forbid, at every depth (a serial number a device adds inside an allowed answer is dropped like one at the
    top; a dictionary the schema gives no keys for is dropped whole). ``dropped`` gets the names left out."""
    kept: dict[str, Any] = {}
    for key, child in value.items():
        spec = specs.get(key) or _any_key(specs)
        if (spec is None or not spec.ios_supported or forbidden_for_user_enrollment(spec.user_enrollment)
                or isinstance(child, Mapping) and not spec.subkeys):
            dropped.append(f"{path}{key}")
        elif isinstance(child, Mapping):
            kept[key] = revealed(child, spec.subkeys, f"{path}{key}.", dropped)
        elif isinstance(child, list) and spec.item is not None and spec.item.subkeys:
            kept[key] = [revealed(entry, spec.item.subkeys, f"{path}{key}[].", dropped) for entry in child
                         if isinstance(entry, Mapping)]
        elif isinstance(child, list):  # the schema names no keys inside its entries: only plain values stay
            kept[key] = [entry for entry in child if not isinstance(entry, (Mapping, list))]
            if len(kept[key]) < len(child):
                dropped.append(f"{path}{key}[]")
        else:
            kept[key] = child
    return kept


_QUERY_RESPONSES = command_spec("DeviceInformation").response["QueryResponses"].subkeys
_SECURITY_INFO = command_spec("SecurityInfo").response["SecurityInfo"].subkeys


def user_enrollment_facts(responses: Mapping[str, Any], dropped: list[str] | None = None) -> dict[str, Any]:
    """The ``DeviceInformation`` answers a user-enrolled device may reveal: the queries User Enrollment allows,
    each holding only what the schema lists for it."""
    dropped = [] if dropped is None else dropped
    dropped.extend(f"QueryResponses.{k}" for k in responses if k not in _USER_ENROLLMENT_QUERIES)
    return revealed({k: v for k, v in responses.items() if k in _USER_ENROLLMENT_QUERIES}, _QUERY_RESPONSES,
                    "QueryResponses.", dropped)


def user_enrollment_security(info: Mapping[str, Any], dropped: list[str] | None = None) -> dict[str, Any]:
    """The ``SecurityInfo`` a user-enrolled device may reveal (never whether it has a passcode, its grace period
    or auto-lock time, nor a key the schema does not list for iOS)."""
    return revealed(info, _SECURITY_INFO, "SecurityInfo.", [] if dropped is None else dropped)


def _answer_cleaner(key: str, keep: Callable[[Mapping[str, Any], list[str]], dict[str, Any]]
                    ) -> Callable[[dict[str, Any], set[str]], list[str]]:
    """A cleaner keeping of the dictionary answer ``key`` what ``keep`` keeps (naming the rest)."""

    def clean(data: dict[str, Any], _managed: set[str]) -> list[str]:
        value = data.get(key)
        if not isinstance(value, Mapping):
            return _drop_malformed(data, key)
        dropped: list[str] = []
        data[key] = keep(value, dropped)
        return dropped

    return clean


# Keys of one entry in each list response (``responsekeys`` of mdm/commands/profile.list.yaml and
# application.installed.list.yaml at capabilities.SCHEMA_COMMIT); anything else a device adds is dropped.
PROFILE_ENTRY_KEYS = frozenset({
    "PayloadUUID", "PayloadIdentifier", "PayloadVersion", "PayloadDisplayName", "PayloadOrganization",
    "PayloadDescription", "PayloadRemovalDisallowed", "HasRemovalPasscode", "IsEncrypted", "SignerCertificates",
    "IsManaged", "Source", "PayloadContent"})
APP_ENTRY_KEYS = frozenset({
    "Identifier", "ExternalVersionIdentifier", "DistributorIdentifier", "Version", "ShortVersion", "Name",
    "BundleSize", "DynamicSize", "IsValidated", "Installing", "AppStoreVendable", "DeviceBasedVPP", "BetaApp",
    "AdHocCodeSigned", "HasUpdateAvailable", "DownloadFailed", "DownloadWaiting", "DownloadPaused",
    "DownloadCancelled", "IsAppClip", "Source"})


def _only(entry: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k in keys}


def _clean_profile_list(data: dict[str, Any], _managed: set[str]) -> list[str]:
    profiles = data.get("ProfileList")
    if not isinstance(profiles, list):
        return _drop_malformed(data, "ProfileList")
    kept = [_only(p, PROFILE_ENTRY_KEYS) for p in profiles if isinstance(p, Mapping) and p.get("IsManaged") is not False]
    data["ProfileList"] = kept
    return ["ProfileList[unmanaged]"] * (len(profiles) - len(kept))


def _clean_installed_applications(data: dict[str, Any], managed: set[str]) -> list[str]:
    apps = data.get("InstalledApplicationList")
    if not isinstance(apps, list):
        return _drop_malformed(data, "InstalledApplicationList")
    kept = [_only(a, APP_ENTRY_KEYS) for a in apps
            if isinstance(a, Mapping) and isinstance(a.get("Identifier"), str) and a["Identifier"] in managed]
    data["InstalledApplicationList"] = kept
    return ["InstalledApplicationList[personal]"] * (len(apps) - len(kept))


def _clean_managed_applications(data: dict[str, Any], _managed: set[str]) -> list[str]:
    apps = data.get("ManagedApplicationList")
    if not isinstance(apps, Mapping):
        return _drop_malformed(data, "ManagedApplicationList")
    kept = {k: v for k, v in apps.items() if isinstance(v, Mapping) and _organisations(v.get("Status"))}
    data["ManagedApplicationList"] = kept
    return ["ManagedApplicationList[personal]"] * (len(apps) - len(kept))


def _organisations(status: Any) -> bool:
    """Whether an app of this ManagedApplicationList ``Status`` (a key the schema requires) is the organisation's.
    A Status that is missing or not text (an array or a dictionary was a TypeError, a 500) says nothing, so that
    app is dropped as personal (a missing one made a personal app managed, and then listed as installed)."""
    return isinstance(status, str) and status not in UNMANAGED_APP_STATUSES


#: Answers listing apps the command named: under User Enrollment only the organisation's are kept.
_APP_ANSWERS = {"ManagedApplicationAttributes": "ApplicationAttributes",
                "ManagedApplicationConfiguration": "ApplicationConfigurations",
                "ManagedApplicationFeedback": "ManagedApplicationFeedback"}


def _app_answer_cleaner(request_type: str) -> Callable[[dict[str, Any], set[str]], list[str]]:
    key = _APP_ANSWERS[request_type]
    entry = command_spec(request_type).response[key].item

    def clean(data: dict[str, Any], managed: set[str]) -> list[str]:
        entries = data.get(key)
        if not isinstance(entries, list):
            return _drop_malformed(data, key)
        dropped: list[str] = []
        data[key] = [revealed(e, entry.subkeys, f"{key}[].", dropped) for e in entries  # an array Identifier: no 500
                     if isinstance(e, Mapping) and isinstance(e.get("Identifier"), str) and e["Identifier"] in managed]
        return dropped + [f"{key}[personal]"] * (len(entries) - len(data[key]))

    return clean


_USER_ENROLLMENT_CLEANERS: Mapping[str, Callable[[dict[str, Any], set[str]], list[str]]] = {
    "DeviceInformation": _answer_cleaner("QueryResponses", user_enrollment_facts),
    "SecurityInfo": _answer_cleaner("SecurityInfo", user_enrollment_security),
    "ProfileList": _clean_profile_list,
    "InstalledApplicationList": _clean_installed_applications,
    "ManagedApplicationList": _clean_managed_applications,
    **{request_type: _app_answer_cleaner(request_type) for request_type in _APP_ANSWERS},
}
#: Answers whose entries no cleaner above reads key by key at every depth (the list cleaners keep an entry's keys,
#: not what they nest): under User Enrollment, ``revealed`` keeps of them what the schema's answer lists.
_LIST_ANSWERS = frozenset({"CertificateList", "ProfileList", "ManagedApplicationList", "InstalledApplicationList",
                           "ManagedMediaList", "ProvisioningProfileList", "InstallApplication"})


def _reveal_entries(request_type: str, data: dict[str, Any]) -> list[str]:
    """Keep of ``data``'s answer keys only what the schema lists for them, at every depth (a SerialNumber a phone
    nests in a certificate entry or a profile's PayloadContent is dropped like one at the top)."""
    answer = {key: value for key, value in data.items() if key not in ENVELOPE_KEYS}
    dropped: list[str] = []
    kept = revealed(answer, command_spec(request_type).response, "", dropped)
    for key in answer:
        if key in kept:
            data[key] = kept[key]
        else:
            del data[key]
    return dropped


#: The answers read against the apps the organisation manages on the device (``managed_app_identifiers``).
NEEDS_MANAGED_APPS = frozenset({"InstalledApplicationList", *_APP_ANSWERS})


# Inventory records ---------------------------------------------------------------------


@dataclass(frozen=True)
class AppRecord:
    identifier: str
    name: str | None = None
    version: str | None = None
    short_version: str | None = None
    status: str | None = None
    bundle_size: int | None = None


@dataclass(frozen=True)
class ProfileRecord:
    identifier: str
    display_name: str | None = None
    organization: str | None = None
    uuid: str | None = None
    version: int | None = None
    is_managed: bool = True
    payload_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class CertificateRecord:
    fingerprint: str  # SHA-256 of the DER, hex
    common_name: str | None = None
    is_identity: bool = False
    not_after: datetime | None = None


@dataclass(frozen=True)
class Inventory:
    """What one inventory command reported: facts (key -> value) or a list of records."""

    kind: str  # facts, security, apps, managed_apps, profiles, certificates
    facts: dict[str, Any] = field(default_factory=dict)
    records: tuple[Any, ...] = ()
    queries: frozenset[str] | None = None  # facts: the keys the command asked for; None: every fact

    def facts_after(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The facts to keep once this answer replaces ``stored``: a fact asked for and not
        answered is gone, facts the command did not ask for stay."""
        if self.queries is None:
            return self.facts
        return {**{key: value for key, value in stored.items() if key not in self.queries}, **self.facts}


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) else None


def _int(value: Any, bits: int = 63) -> int | None:
    """An integer that fits a signed column of ``bits`` + 1 bits; None otherwise (a plist integer reaches
    2**64 - 1, and a database refuses what its column cannot hold)."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2 ** bits) <= value < 2 ** bits:
        return value
    return None


def _scalar_facts(values: Mapping[str, Any]) -> dict[str, Any]:
    """Facts worth a column or a table cell: strings, numbers, booleans and small dictionaries."""
    facts: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, str):
            facts[key] = value[:1024]
        elif isinstance(value, (bool, int, float)):
            facts[key] = value
        elif isinstance(value, Mapping):
            facts[key] = _scalar_facts(value)
    return facts


def _device_information(data: Mapping[str, Any]) -> Inventory:
    responses = data.get("QueryResponses")
    if not isinstance(responses, Mapping):
        raise ResultError("QueryResponses must be a dictionary")
    return Inventory("facts", facts=_scalar_facts(responses))


def _security_info(data: Mapping[str, Any]) -> Inventory:
    info = data.get("SecurityInfo")
    if not isinstance(info, Mapping):
        raise ResultError("SecurityInfo must be a dictionary")
    return Inventory("security", facts=_scalar_facts(info))


def _profile_list(data: Mapping[str, Any]) -> Inventory:
    profiles = data.get("ProfileList")
    if not isinstance(profiles, list):
        raise ResultError("ProfileList must be an array")
    records = {}
    for entry in profiles:
        identifier = _text(entry.get("PayloadIdentifier")) if isinstance(entry, Mapping) else None
        if identifier is None:
            continue
        content = entry.get("PayloadContent")
        types = tuple(_text(p.get("PayloadType")) or "?" for p in content if isinstance(p, Mapping)) \
            if isinstance(content, list) else ()
        records[identifier] = ProfileRecord(
            identifier=identifier, display_name=_text(entry.get("PayloadDisplayName")),
            organization=_text(entry.get("PayloadOrganization")), uuid=_text(entry.get("PayloadUUID")),
            version=_int(entry.get("PayloadVersion"), bits=31), is_managed=entry.get("IsManaged") is not False,
            payload_types=types[:50])
    return Inventory("profiles", records=tuple(records.values()))


def certificate_record(der: bytes, common_name: Any = None, is_identity: Any = False) -> CertificateRecord:
    """A certificate as the inventory keeps it, whoever reported it (``CertificateList``, or a DDM status
    report's ``security.certificate.list``): its DER's fingerprint, the name the device gave (else the
    subject's common name), whether it is an identity, when it expires."""
    common_name, not_after = _text(common_name), None
    try:
        certificate = x509.load_der_x509_certificate(der)
        not_after = certificate.not_valid_after_utc
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if common_name is None and names:
            common_name = _text(plist.storable(str(names[0].value)))  # a NUL in it failed PostgreSQL's text
    except ValueError:
        pass  # an unreadable certificate is still listed, by fingerprint
    return CertificateRecord(fingerprint=hashlib.sha256(der).hexdigest(), common_name=common_name,
                             is_identity=is_identity is True, not_after=not_after)


def _certificate(entry: Mapping[str, Any]) -> CertificateRecord | None:
    der = entry.get("Data")
    if not isinstance(der, (bytes, bytearray)):
        return None
    return certificate_record(bytes(der), entry.get("CommonName"), entry.get("IsIdentity"))


def _certificate_list(data: Mapping[str, Any]) -> Inventory:
    entries = data.get("CertificateList")
    if not isinstance(entries, list):
        raise ResultError("CertificateList must be an array")
    records = {}
    for entry in entries:
        record = _certificate(entry) if isinstance(entry, Mapping) else None
        if record is not None:
            records[record.fingerprint] = record
    return Inventory("certificates", records=tuple(records.values()))


def _installed_applications(data: Mapping[str, Any]) -> Inventory:
    entries = data.get("InstalledApplicationList")
    if not isinstance(entries, list):
        raise ResultError("InstalledApplicationList must be an array")
    records = {}
    for entry in entries:
        identifier = _text(entry.get("Identifier")) if isinstance(entry, Mapping) else None
        if identifier is not None:
            records[identifier] = AppRecord(identifier=identifier, name=_text(entry.get("Name")),
                                            version=_text(entry.get("Version")),
                                            short_version=_text(entry.get("ShortVersion")),
                                            bundle_size=_int(entry.get("BundleSize")))
    return Inventory("apps", records=tuple(records.values()))


def _managed_applications(data: Mapping[str, Any]) -> Inventory:
    entries = data.get("ManagedApplicationList")
    if not isinstance(entries, Mapping):
        raise ResultError("ManagedApplicationList must be a dictionary")
    records = {identifier[:MAX_TEXT]: AppRecord(identifier=identifier[:MAX_TEXT], status=_text(entry.get("Status")))
               for identifier, entry in entries.items()
               if isinstance(identifier, str) and isinstance(entry, Mapping)}  # one record per stored identifier
    return Inventory("managed_apps", records=tuple(records.values()))


_PARSERS: Mapping[str, Callable[[Mapping[str, Any]], Inventory]] = {
    "DeviceInformation": _device_information,
    "SecurityInfo": _security_info,
    "ProfileList": _profile_list,
    "CertificateList": _certificate_list,
    "InstalledApplicationList": _installed_applications,
    "ManagedApplicationList": _managed_applications,
}


def parse_inventory(request_type: str, sanitized: Mapping[str, Any], *,
                    queries: Collection[str] | None = None) -> Inventory:
    """Read a sanitised, acknowledged inventory report; ResultError when it has the wrong shape.

    ``queries`` are the keys a DeviceInformation command asked for (see :meth:`Inventory.facts_after`).
    """
    parser = _PARSERS.get(request_type)
    if parser is None:
        raise ResultError(f"{request_type} is not an inventory command")
    inventory = parser(sanitized)
    if request_type == "DeviceInformation" and queries is not None:
        return replace(inventory, queries=frozenset(queries))
    return inventory
