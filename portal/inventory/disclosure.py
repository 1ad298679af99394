"""Exactly what the server holds about a device, for the admin device page and for the
employee's own transparency page: one function, so both always show the same fields.

Fields are filtered again here by enrollment type (defence in depth: even a row written before
a rule existed never shows a field User Enrollment forbids).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Row, func, select

from mdm_core.results import user_enrollment_facts, user_enrollment_security

from ..extensions import db
from ..i18n import DEVICE_STATUS
from ..models import (Command, DdmEnrollment, DeclarationStatus, Device, DeviceAccount, DeviceApp, DeviceCertificate,
                      DeviceInventory, DeviceProfile, EndUser, InventoryChange)
from ..models.device import owned_by
from .facts import STATUS_FACTS

FACT_LABELS = {
    "DeviceName": _l("Device name"), "OSVersion": _l("iOS version"), "BuildVersion": _l("Build"), "ProductName": _l("Product"),
    "Model": _l("Model"), "ModelName": _l("Model name"), "ModelNumber": _l("Model number"),
    "DeviceCapacity": _l("Storage (GB)"), "AvailableDeviceCapacity": _l("Free storage (GB)"), "BatteryLevel": _l("Battery level"),
    "CellularTechnology": _l("Cellular technology"), "IsSupervised": _l("Supervised"), "IsMultiUser": _l("Multi-user"),
    "IsDeviceLocatorServiceEnabled": _l("Find My enabled"), "IsNetworkTethered": _l("Network tethered"),
    "DiagnosticSubmissionEnabled": _l("Sends diagnostics"), "AppAnalyticsEnabled": _l("Shares app analytics"),
    "TimeZone": _l("Time zone"), "EASDeviceIdentifier": _l("Exchange device identifier"),
    "OrganizationInfo": _l("Organisation info"), "MDMOptions": _l("MDM options"),
}
SECURITY_LABELS = {"HardwareEncryptionCaps": _l("Hardware encryption"), "PasscodeCompliant": _l("Passcode compliant"),
                   "ManagementStatus": _l("Management status")}
#: ``account.list.*``'s account types (``device_accounts.account_type``), named for people.
ACCOUNT_TYPES = {"mail.incoming": _l("Mail (incoming)"), "mail.outgoing": _l("Mail (outgoing)"), "exchange": "Exchange",
                 "caldav": "CalDAV", "carddav": "CardDAV", "ldap": "LDAP", "google": "Google",
                 "subscribed-calendar": _l("Subscribed calendar")}
#: What each command does, in words an employee understands.
COMMAND_DESCRIPTIONS = {
    "DeviceInformation": _l("Read the device facts listed on this page"),
    "SecurityInfo": _l("Read the security facts listed on this page"),
    "ManagedApplicationList": _l("List the apps the organisation installed"),
    "InstalledApplicationList": _l("List the apps the organisation installed (personal apps are never reported)"),
    "ProfileList": _l("List the configuration profiles the organisation installed"),
    "CertificateList": _l("List the certificates the organisation installed"),
    "InstallProfile": _l("Install a configuration profile"), "RemoveProfile": _l("Remove a configuration profile"),
    "InstallApplication": _l("Install an app"), "RemoveApplication": _l("Remove an app the organisation installed"),
    "DeviceLock": _l("Lock the screen"), "Settings": _l("Change a setting the organisation manages"),
}


#: A declaration's ``valid`` as a device reports it, in words.
VALID_STATES = {"valid": _l("valid"), "invalid": _l("invalid"), "unknown": _l("not checked yet")}


@dataclass(frozen=True)
class DeclarativeHoldings:
    """What DDM status reports left of a device beyond its facts: whether a passcode is set (a status item User
    Enrollment reports, which no SecurityInfo answer to a user-enrolled device holds), each declaration's state
    as reported, and the status items the device said it could not report."""

    last_status_at: Any
    passcode_present: bool | None
    statuses: list[DeclarationStatus]
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class DeviceHoldings:
    device: Device
    identifiers: list[tuple[str, Any]]
    facts: list[tuple[str, Any]]
    security: list[tuple[str, Any]]
    facts_raw: dict[str, Any]
    security_raw: dict[str, Any]
    facts_updated_at: Any
    apps: list[DeviceApp]
    profiles: list[DeviceProfile]
    certificates: list[DeviceCertificate]
    accounts: list[DeviceAccount]
    commands: list[Command]
    changes: list[InventoryChange | ShownChange]
    declarative: DeclarativeHoldings | None = None

    @staticmethod
    def account_type(account: DeviceAccount) -> str:
        return ACCOUNT_TYPES.get(account.account_type, account.account_type)


def visible_facts(enrollment_type: str, facts: dict[str, Any]) -> dict[str, Any]:
    """What is shown of stored facts: for User Enrollment, again only what the device may reveal (rows stored
    before a rule was tightened keep what it let through)."""
    return user_enrollment_facts(facts) if enrollment_type == "user" else dict(facts)


def visible_security(enrollment_type: str, security: dict[str, Any]) -> dict[str, Any]:
    return user_enrollment_security(security) if enrollment_type == "user" else dict(security)


@dataclass(frozen=True)
class ShownChange:
    """An inventory change as it is shown: a stored row's fields, its values filtered as the facts are."""

    at: Any
    kind: str
    key: str
    old: Any
    new: Any


_VISIBLE = {"facts": visible_facts, "security": visible_security}


def visible_changes(enrollment_type: str, changes: list[InventoryChange]) -> list[InventoryChange | ShownChange]:
    """What is shown of stored changes: for User Enrollment, a change of a fact or security answer only if that
    key may be revealed, with only what may be revealed of its old and new values (as ``visible_facts``)."""
    if enrollment_type != "user":
        return changes
    shown: list[InventoryChange | ShownChange] = []
    for change in changes:
        visible = _VISIBLE.get(change.kind)
        if visible is None:
            shown.append(change)
        elif change.key in visible(enrollment_type, {change.key: 0}):
            old, new = (None if value is None else visible(enrollment_type, {change.key: value}).get(change.key)
                        for value in (change.old, change.new))
            shown.append(ShownChange(change.at, change.kind, change.key, old, new))
    return shown


def _labelled(values: dict[str, Any], labels: dict[str, str]) -> list[tuple[str, Any]]:
    return [(labels.get(key, key), values[key]) for key in sorted(values, key=lambda k: str(labels.get(k, k)))]


def holdings(device: Device, *, history: int = 50) -> DeviceHoldings:
    """Everything stored about ``device`` (a few indexed queries, no per-row loading)."""
    return holdings_of([device], history=history)[0]


def holdings_of(devices: list[Device], *, history: int = 50, declarative: bool = False) -> list[DeviceHoldings]:
    """``holdings`` of each device, in the same few statements whatever the number of devices; ``declarative``:
    with what status reports left beyond the facts (the admin device page shows it in its management card)."""
    ids = [device.id for device in devices]
    if not ids:
        return []
    inventories = {row.device_id: row for row in db.session.scalars(
        select(DeviceInventory).where(DeviceInventory.device_id.in_(ids)))}
    reported = {row.device_id: row for row in db.session.execute(
        select(DdmEnrollment.device_id, DdmEnrollment.last_status_at, DdmEnrollment.passcode_compliant,
               DdmEnrollment.passcode_reported_at, DdmEnrollment.passcode_present, DdmEnrollment.errors)
        .where(DdmEnrollment.device_id.in_(ids), DdmEnrollment.last_status_at.is_not(None)))}
    statuses = _by_device(select(DeclarationStatus).where(DeclarationStatus.device_id.in_(ids))
                          .order_by(DeclarationStatus.identifier)) if declarative else {}
    apps = _by_device(select(DeviceApp).where(DeviceApp.device_id.in_(ids)).order_by(DeviceApp.identifier))
    profiles = _by_device(select(DeviceProfile).where(DeviceProfile.device_id.in_(ids))
                          .order_by(DeviceProfile.identifier))
    certificates = _by_device(select(DeviceCertificate).where(DeviceCertificate.device_id.in_(ids))
                              .order_by(DeviceCertificate.common_name))
    accounts = _by_device(select(DeviceAccount).where(DeviceAccount.device_id.in_(ids))
                          .order_by(DeviceAccount.account_type, DeviceAccount.identifier))
    commands, changes = _by_device(_latest(Command, ids, history)), _by_device(_latest(InventoryChange, ids, history))
    return [_holdings(device, inventories.get(device.id), reported.get(device.id), apps.get(device.id, []),
                      profiles.get(device.id, []),
                      certificates.get(device.id, []), accounts.get(device.id, []), commands.get(device.id, []),
                      changes.get(device.id, []), statuses.get(device.id, []) if declarative else None)
            for device in devices]


def _by_device(statement) -> dict[int, list]:
    """The rows of ``statement`` per device id, in the statement's order."""
    rows: dict[int, list] = {}
    for row in db.session.scalars(statement):
        rows.setdefault(row.device_id, []).append(row)
    return rows


def _latest(model, ids: list[int], history: int):
    """Each device's newest ``history`` rows of ``model``, newest first: a LIMIT for one device (the device
    page, read through the index), a row number per device for several (the employee's page)."""
    if len(ids) == 1:
        return select(model).where(model.device_id == ids[0]).order_by(model.id.desc()).limit(history)
    rank = func.row_number().over(partition_by=model.device_id, order_by=model.id.desc()).label("rank")
    ranked = select(model.id, rank).where(model.device_id.in_(ids)).subquery()
    return (select(model).join(ranked, ranked.c.id == model.id).where(ranked.c.rank <= history)
            .order_by(model.id.desc()))


def _newest(device: Device, inventory: DeviceInventory | None, reported: Row | None) -> tuple[dict, dict, Any]:
    """The stored facts and security answers, and when the facts were last reported, with what DDM status reports
    carry over them: the facts both channels write to the device row (which holds the newer) and the passcode
    compliance if the last report that carried it is newer than the SecurityInfo answer; else a page would show
    a status report's OS version beside the one the last inventory round found. A report carries what changed, so
    the time is the later of the last DeviceInformation answer and the last report."""
    facts = dict(inventory.facts) if inventory else {}
    security = dict(inventory.security) if inventory else {}
    updated_at = inventory.facts_updated_at if inventory else None
    if reported is None:
        return facts, security, updated_at
    for key, column in STATUS_FACTS.items():
        if getattr(device, column) is not None:
            facts[key] = getattr(device, column)
    security_at = inventory.security_updated_at if inventory else None
    told_at = reported.passcode_reported_at  # set with a compliance, never without (0023 dates the stored ones)
    if told_at is not None and (security_at is None or told_at >= security_at):
        security["PasscodeCompliant"] = reported.passcode_compliant
    return facts, security, max(filter(None, (updated_at, reported.last_status_at)))


def _holdings(device: Device, inventory: DeviceInventory | None, reported: Row | None, apps: list[DeviceApp],
              profiles: list[DeviceProfile], certificates: list[DeviceCertificate], accounts: list[DeviceAccount],
              commands: list[Command], changes: list[InventoryChange],
              statuses: list[DeclarationStatus] | None) -> DeviceHoldings:
    facts, security, facts_updated_at = _newest(device, inventory, reported)
    facts = visible_facts(device.enrollment_type, facts)
    security = visible_security(device.enrollment_type, security)
    identifiers: list[tuple[str, Any]] = [
        (_l("Enrollment type"), _l("User Enrollment (personal device)") if device.enrollment_type == "user"
         else _l("Device enrollment (legacy)")),
        (_l("Enrollment method"), device.enrollment_method),
        (_l("Managed Apple ID"), device.managed_apple_id),
        (_l("Enrollment ID") if device.enrollment_type == "user" else "UDID", device.identifier),
        (_l("Enrolled"), device.enrolled_at),
        (_l("Last check-in"), device.last_seen_at),
        (_l("Status"), DEVICE_STATUS.get(device.status, device.status)),
    ]
    return DeviceHoldings(
        device=device, identifiers=identifiers, facts=_labelled(facts, FACT_LABELS),
        security=_labelled(security, SECURITY_LABELS), facts_raw=facts, security_raw=security,
        facts_updated_at=facts_updated_at, apps=apps, profiles=profiles,
        certificates=certificates, accounts=accounts, commands=commands,
        changes=visible_changes(device.enrollment_type, changes),
        declarative=None if reported is None or statuses is None else DeclarativeHoldings(
            reported.last_status_at, reported.passcode_present, statuses, list(reported.errors or [])))


def devices_of(end_user: EndUser) -> list[Device]:
    """The employee's devices (``owned_by``)."""
    return list(db.session.scalars(select(Device).where(owned_by(end_user)).order_by(Device.id)).unique())


def holdings_for(end_user: EndUser) -> list[DeviceHoldings]:
    return holdings_of(devices_of(end_user), declarative=True)
