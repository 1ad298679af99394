"""The managed apps, certificates and accounts a status report lists, as inventory records.

``app.managed.list`` (iOS 17.2) and ``security.certificate.list`` (iOS 17) come whole in a full report; a
later report carries only the entries that changed and, for an entry gone, a ``_removed`` marker with its
identifier alone. A ``ListUpdate`` says what to write, which entries went away, and whether the list is whole
(so stored entries it does not name are gone too). Entries of the wrong shape are skipped, as a command
report's are; text is made storable (``mdm_core.plist.storable``).

The ``account.list.*`` items (one per account type) are read as one list of accounts, each entry's identifier
prefixed with its list's short name (``mail.incoming/<identifier>``). Only accounts a declaration installed
(``declaration-identifier``) are kept: the organisation's accounts, never one the device lists otherwise.
"""
from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mdm_core.ddm.status import StatusReport
from mdm_core.ddm.tables import status_item_names
from mdm_core.plist import storable
from mdm_core.results import MAX_TEXT, AppRecord, CertificateRecord, certificate_record

MANAGED_APPS = "app.managed.list"
CERTIFICATES = "security.certificate.list"
_ACCOUNTS = "account.list."
#: The account lists a user-enrolled device reports, by Apple's schemas (mail incoming and outgoing, CalDAV...).
ACCOUNT_LISTS = tuple(name for name in status_item_names(user_enrollment=True) if name.startswith(_ACCOUNTS))
#: Entries read of one list, and rows of each kind a status report may give one device: a managed volume holds far
#: fewer apps or certificates. A full report's list cut here is not taken as whole.
MAX_LIST_ENTRIES = 1000
#: A certificate's DER past this is no certificate a phone keeps (Base64 text in the report).
MAX_CERTIFICATE_TEXT = 64 * 1024


@dataclass(frozen=True)
class ListUpdate:
    """One list of a report: ``records`` by the entry's status identifier, the identifiers ``removed``
    (never one that ``records`` holds), the identifiers ``listed`` (those of ``records``, and of entries that
    lost their key to a later one), and ``whole`` (a full report whose list was read to its end)."""

    whole: bool
    records: Mapping[str, Any]
    removed: frozenset[str]
    listed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AccountRecord:
    """An account a declaration installed, as an ``account.list.*`` entry reports it; ``key`` is
    ``<account type>/<identifier>``, the account type the list's short name (``mail.incoming``)."""

    key: str
    account_type: str
    declaration_identifier: str
    visible_name: str | None = None
    hostname: str | None = None
    port: int | None = None
    username: str | None = None


#: Changed whenever reading a list changes, so that lists kept from an earlier reading are read again.
READING = "2026-12-06"


def managed_apps(report: StatusReport) -> ListUpdate | None:
    """The report's ``app.managed.list`` as ``AppRecord``s (the entry's identifier is the bundle ID), or None."""
    return _update(report, MANAGED_APPS, _app, lambda app: app.identifier)


def certificates(report: StatusReport) -> ListUpdate | None:
    """The report's ``security.certificate.list`` as ``CertificateRecord``s, or None; an entry without its
    certificate (``data``) is skipped: the inventory knows a certificate by its DER's fingerprint."""
    return _update(report, CERTIFICATES, _certificate, lambda certificate: certificate.fingerprint)


def accounts(report: StatusReport) -> ListUpdate | None:
    """The report's ``account.list.*`` items as one list of ``AccountRecord``s, or None when it carries none; a
    full report's is whole (it carries every list subscribed to) unless the lists hold more than
    ``MAX_LIST_ENTRIES`` entries together."""
    present = [(name[len(_ACCOUNTS):], report.items[name]) for name in ACCOUNT_LISTS if name in report.items]
    if not present:
        return None
    entries = [identified for account_type, listed in present
               for identified in _identified(listed[:MAX_LIST_ENTRIES], f"{account_type}/")]
    whole = report.full_report and sum(len(listed) for _, listed in present) <= MAX_LIST_ENTRIES
    return _read(entries[:MAX_LIST_ENTRIES], whole, _account, lambda account: account.key)


@dataclass(frozen=True)
class StatusList:
    """A list a status report may carry: the ``kind`` the inventory keeps it as, the status ``items`` it is read
    from, its reader, and which entries the reader can keep (None: any)."""

    kind: str
    items: tuple[str, ...]
    read: Callable[[StatusReport], ListUpdate | None]
    kept: Callable[[Any], bool] | None = None


def _declared(entry: Any) -> bool:
    """An account entry ``accounts`` may keep: one a declaration installed, or a removal."""
    return entry.__class__ is dict and bool(entry.get("declaration-identifier") or entry.get("_removed") is True)


#: Every list the inventory keeps from status reports.
STATUS_LISTS = (StatusList("apps", (MANAGED_APPS,), managed_apps),
                StatusList("certificates", (CERTIFICATES,), certificates),
                StatusList("accounts", ACCOUNT_LISTS, accounts, kept=_declared))


def list_source(report: StatusReport, status_list: StatusList) -> dict[str, Any] | None:
    """What ``status_list``'s reader reads of the report, as JSON, or None when the report carries none of its
    items: the same source gives the same list. ``items`` holds the entries by status item; of a list with
    ``kept`` only the entries its reader can keep (a personal account never reaches the digest), with each item's
    length, which decides whether the list is whole."""
    items = {name: report.items[name] for name in status_list.items if name in report.items}
    if not items:
        return None
    source: dict[str, Any] = {"reading": READING, "full": report.full_report, "items": items}
    kept = status_list.kept
    if kept is not None and sum(len(entries) for entries in items.values()) <= MAX_LIST_ENTRIES:
        source["lengths"] = {name: len(entries) for name, entries in items.items()}
        source["items"] = {name: [entry for entry in entries if kept(entry)] for name, entries in items.items()}
    return source


def _update(report: StatusReport, name: str, record: Callable[[str, dict[str, Any]], Any],
            key: Callable[[Any], str]) -> ListUpdate | None:
    entries = report.items.get(name)
    if entries is None:
        return None
    return _read(list(_identified(entries[:MAX_LIST_ENTRIES])), report.full_report and len(entries) <= MAX_LIST_ENTRIES,
                 record, key)


def _identified(entries: list[Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Each entry that is an object with an identifier, with that identifier (``prefix`` before it), storable."""
    for entry in entries:
        identifier = entry.get("identifier") if entry.__class__ is dict else None
        if identifier.__class__ is str and identifier:
            yield storable((prefix + identifier)[:MAX_TEXT]), entry


def _read(entries: list[tuple[str, dict[str, Any]]], whole: bool, record: Callable[[str, dict[str, Any]], Any],
          key: Callable[[Any], str]) -> ListUpdate:
    """``key`` is what the inventory keeps one row per: of two entries with one key, the later one is kept."""
    records: dict[str, Any] = {}
    removed: set[str] = set()
    for identifier, entry in entries:
        records.pop(identifier, None)  # the entry's last word is the one kept, in the order it came
        if entry.get("_removed") is True:
            removed.add(identifier)
            continue
        read = record(identifier, entry)
        if read is not None:
            records[identifier] = read
            removed.discard(identifier)
    last = {key(read): identifier for identifier, read in records.items()}
    return ListUpdate(whole, {identifier: records[identifier] for identifier in last.values()}, frozenset(removed),
                      frozenset(records))


def _text(value: Any) -> str | None:
    return storable(value[:MAX_TEXT]) if value.__class__ is str else None


def _app(identifier: str, entry: dict[str, Any]) -> AppRecord:
    return AppRecord(identifier=identifier, name=_text(entry.get("name")), version=_text(entry.get("version")),
                     short_version=_text(entry.get("short-version")), status=_state(entry.get("state")))


def _state(value: Any) -> str | None:
    """An ``app.managed.list`` state in ``ManagedApplicationList``'s words (``managed-but-uninstalled`` is
    ``ManagedButUninstalled``): an app's status reads alike whichever channel reported it."""
    text = _text(value)  # cut again after: upper-casing lengthens some letters ("ß" is "SS")
    return None if text is None else "".join(word[:1].upper() + word[1:] for word in text.split("-"))[:MAX_TEXT]


def _certificate(_identifier: str, entry: dict[str, Any]) -> CertificateRecord | None:
    data = entry.get("data")
    if data.__class__ is not str or len(data) > MAX_CERTIFICATE_TEXT:
        return None
    try:
        der = b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not der:
        return None
    return certificate_record(der, _text(entry.get("subject-summary")), entry.get("is-identity"))


def _account(identifier: str, entry: dict[str, Any]) -> AccountRecord | None:
    """None for an account no declaration installed: the server keeps the organisation's accounts only."""
    declaration = _text(entry.get("declaration-identifier"))
    if not declaration:
        return None
    port = entry.get("port")
    return AccountRecord(key=identifier, account_type=identifier.partition("/")[0], declaration_identifier=declaration,
                         visible_name=_text(entry.get("visible-name")), hostname=_text(entry.get("hostname")),
                         port=port if port.__class__ is int and 0 < port < 65536 else None,
                         username=_text(entry.get("username")))
