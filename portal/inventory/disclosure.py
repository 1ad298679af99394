"""Exactly what the server holds about a device, for the admin device page and for the
employee's own transparency page: one function, so both always show the same fields.

Fields are filtered again here by enrollment type (defence in depth: even a row written before
a rule existed never shows a field User Enrollment forbids).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from mdm_core.capabilities import allowed_device_information_queries
from mdm_core.results import USER_ENROLLMENT_FORBIDDEN_SECURITY_KEYS

from ..extensions import db
from ..models import (Command, Device, DeviceApp, DeviceCertificate, DeviceInventory, DeviceProfile, EndUser,
                      InventoryChange)

FACT_LABELS = {
    "DeviceName": "Device name", "OSVersion": "iOS version", "BuildVersion": "Build", "ProductName": "Product",
    "Model": "Model", "ModelName": "Model name", "ModelNumber": "Model number",
    "DeviceCapacity": "Storage (GB)", "AvailableDeviceCapacity": "Free storage (GB)", "BatteryLevel": "Battery level",
    "CellularTechnology": "Cellular technology", "IsSupervised": "Supervised", "IsMultiUser": "Multi-user",
    "IsDeviceLocatorServiceEnabled": "Find My enabled", "IsNetworkTethered": "Network tethered",
    "DiagnosticSubmissionEnabled": "Sends diagnostics", "AppAnalyticsEnabled": "Shares app analytics",
    "TimeZone": "Time zone", "EASDeviceIdentifier": "Exchange device identifier",
    "OrganizationInfo": "Organisation info", "MDMOptions": "MDM options",
}
SECURITY_LABELS = {"HardwareEncryptionCaps": "Hardware encryption", "PasscodeCompliant": "Passcode compliant",
                   "ManagementStatus": "Management status"}
#: What each command does, in words an employee understands.
COMMAND_DESCRIPTIONS = {
    "DeviceInformation": "Read the device facts listed on this page",
    "SecurityInfo": "Read the security facts listed on this page",
    "ManagedApplicationList": "List the apps the organisation installed",
    "InstalledApplicationList": "List the apps the organisation installed (personal apps are never reported)",
    "ProfileList": "List the configuration profiles the organisation installed",
    "CertificateList": "List the certificates the organisation installed",
    "InstallProfile": "Install a configuration profile", "RemoveProfile": "Remove a configuration profile",
    "InstallApplication": "Install an app", "RemoveApplication": "Remove an app the organisation installed",
    "DeviceLock": "Lock the screen", "Settings": "Change a setting the organisation manages",
}


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
    commands: list[Command]
    changes: list[InventoryChange]


def visible_facts(enrollment_type: str, facts: dict[str, Any]) -> dict[str, Any]:
    if enrollment_type != "user":
        return dict(facts)
    allowed = set(allowed_device_information_queries("user"))
    return {k: v for k, v in facts.items() if k in allowed}


def visible_security(enrollment_type: str, security: dict[str, Any]) -> dict[str, Any]:
    if enrollment_type != "user":
        return dict(security)
    return {k: v for k, v in security.items() if k not in USER_ENROLLMENT_FORBIDDEN_SECURITY_KEYS}


def _labelled(values: dict[str, Any], labels: dict[str, str]) -> list[tuple[str, Any]]:
    return [(labels.get(key, key), values[key]) for key in sorted(values, key=lambda k: labels.get(k, k))]


def holdings(device: Device, *, history: int = 50) -> DeviceHoldings:
    """Everything stored about ``device`` (a few indexed queries, no per-row loading)."""
    inventory = db.session.get(DeviceInventory, device.id)
    facts = visible_facts(device.enrollment_type, inventory.facts if inventory else {})
    security = visible_security(device.enrollment_type, inventory.security if inventory else {})
    identifiers: list[tuple[str, Any]] = [
        ("Enrollment type", "User Enrollment (personal device)" if device.enrollment_type == "user"
         else "Device enrollment (legacy)"),
        ("Enrollment method", device.enrollment_method),
        ("Managed Apple ID", device.managed_apple_id),
        ("Enrollment ID" if device.enrollment_type == "user" else "UDID", device.identifier),
        ("Enrolled", device.enrolled_at),
        ("Last check-in", device.last_seen_at),
        ("Status", device.status),
    ]
    by_device = {"device_id": device.id}
    return DeviceHoldings(
        device=device, identifiers=identifiers, facts=_labelled(facts, FACT_LABELS),
        security=_labelled(security, SECURITY_LABELS), facts_raw=facts, security_raw=security,
        facts_updated_at=inventory.facts_updated_at if inventory else None,
        apps=list(db.session.scalars(select(DeviceApp).filter_by(**by_device).order_by(DeviceApp.identifier))),
        profiles=list(db.session.scalars(select(DeviceProfile).filter_by(**by_device).order_by(DeviceProfile.identifier))),
        certificates=list(db.session.scalars(select(DeviceCertificate).filter_by(**by_device)
                                             .order_by(DeviceCertificate.common_name))),
        commands=list(db.session.scalars(select(Command).filter_by(**by_device).order_by(Command.id.desc()).limit(history))),
        changes=list(db.session.scalars(select(InventoryChange).filter_by(**by_device)
                                        .order_by(InventoryChange.id.desc()).limit(history))),
    )


def devices_of(end_user: EndUser) -> list[Device]:
    """The employee's devices: enrolled under their account or their Managed Apple ID."""
    return list(db.session.scalars(
        select(Device).where(or_(Device.user_id == end_user.id, Device.managed_apple_id == end_user.managed_apple_id))
        .order_by(Device.id)).unique())


def holdings_for(end_user: EndUser) -> list[DeviceHoldings]:
    return [holdings(device) for device in devices_of(end_user)]
