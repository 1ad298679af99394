"""Write sanitised inventory reports into the inventory tables, with a history of changes.

Runs inside the command-report transaction, only for acknowledged inventory commands; it
reads and writes the rows of one device, so it stays short.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any, Callable, Mapping

from sqlalchemy import select

from mdm_core.results import Inventory, ResultError, parse_inventory

from ..extensions import db
from ..models import Device, DeviceApp, DeviceCertificate, DeviceInventory, DeviceProfile, InventoryChange

log = logging.getLogger(__name__)

#: Facts that change on every report; recording each change would bury the ones that matter.
VOLATILE_FACTS = frozenset({"BatteryLevel", "AvailableDeviceCapacity"})
#: DeviceInformation answers mirrored on the device row (searchable, listed), with column lengths.
DEVICE_COLUMNS = {"OSVersion": ("os_version", 40), "BuildVersion": ("build_version", 40),
                  "ProductName": ("product_name", 80), "Model": ("model", 80), "ModelName": ("model_name", 120),
                  "DeviceName": ("device_name", 255)}


def apply_report(device: Device, request_type: str, sanitized: Mapping[str, Any], now: datetime) -> None:
    """Update the device's inventory from an acknowledged, sanitised report; the caller commits."""
    try:
        inventory = parse_inventory(request_type, sanitized)
    except ResultError as exc:
        log.warning("inventory report ignored: %s", exc, extra={"device_id": device.id, "request_type": request_type})
        return
    _APPLIERS[inventory.kind](device, inventory, now)


def managed_app_identifiers(device_id: int) -> set[str]:
    return set(db.session.scalars(select(DeviceApp.identifier).where(DeviceApp.device_id == device_id)))


def _change(device: Device, now: datetime, kind: str, key: str, old: Any, new: Any) -> None:
    db.session.add(InventoryChange(device_id=device.id, at=now, kind=kind, key=key[:255], old=old, new=new))


def _inventory_row(device: Device) -> tuple[DeviceInventory, bool]:
    row = db.session.get(DeviceInventory, device.id)
    if row is None:
        row = DeviceInventory(device_id=device.id, facts={}, security={})
        db.session.add(row)
        return row, True
    return row, False


def _diff_facts(device: Device, now: datetime, kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    for key in sorted(set(old) | set(new)):
        if key not in VOLATILE_FACTS and old.get(key) != new.get(key):
            _change(device, now, kind, key, old.get(key), new.get(key))


def _facts(device: Device, inventory: Inventory, now: datetime) -> None:
    row, first = _inventory_row(device)
    if not first:
        _diff_facts(device, now, "facts", row.facts or {}, inventory.facts)
    row.facts = inventory.facts
    row.facts_updated_at = now
    for key, (column, length) in DEVICE_COLUMNS.items():
        value = inventory.facts.get(key)
        if isinstance(value, str):
            setattr(device, column, value[:length])


def _security(device: Device, inventory: Inventory, now: datetime) -> None:
    row, first = _inventory_row(device)
    if not first and row.security_updated_at is not None:
        _diff_facts(device, now, "security", row.security or {}, inventory.facts)
    row.security = inventory.facts
    row.security_updated_at = now


def _sync(device: Device, now: datetime, kind: str, model: type, key_column: str, records: tuple[Any, ...],
          *, remove_missing: bool, fields: Callable[[Any], dict[str, Any]]) -> None:
    """Make the device's rows of ``model`` match ``records``, recording what appeared and went away."""
    existing = {getattr(row, key_column): row
                for row in db.session.scalars(select(model).where(model.device_id == device.id))}
    seen = set()
    for record in records:
        key = getattr(record, key_column)
        seen.add(key)
        values = fields(record)
        row = existing.get(key)
        if row is None:
            db.session.add(model(device_id=device.id, updated_at=now, **{key_column: key}, **values))
            _change(device, now, kind, key, None, "added")
            continue
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
        row.updated_at = now
    if remove_missing:
        for key, row in existing.items():
            if key not in seen:
                db.session.delete(row)
                _change(device, now, kind, key, "installed", None)


def _profiles(device: Device, inventory: Inventory, now: datetime) -> None:
    _sync(device, now, "profiles", DeviceProfile, "identifier", inventory.records, remove_missing=True,
          fields=lambda r: {k: (list(v) if k == "payload_types" else v) for k, v in asdict(r).items() if k != "identifier"})


def _certificates(device: Device, inventory: Inventory, now: datetime) -> None:
    _sync(device, now, "certificates", DeviceCertificate, "fingerprint", inventory.records, remove_missing=True,
          fields=lambda r: {k: v for k, v in asdict(r).items() if k != "fingerprint"})


def _managed_apps(device: Device, inventory: Inventory, now: datetime) -> None:
    _sync(device, now, "apps", DeviceApp, "identifier", inventory.records, remove_missing=True,
          fields=lambda r: {"status": r.status})


def _installed_apps(device: Device, inventory: Inventory, now: datetime) -> None:
    _sync(device, now, "apps", DeviceApp, "identifier", inventory.records, remove_missing=False,
          fields=lambda r: {"name": r.name, "version": r.version, "short_version": r.short_version,
                            "bundle_size": r.bundle_size})


_APPLIERS: Mapping[str, Callable[[Device, Inventory, datetime], None]] = {
    "facts": _facts,
    "security": _security,
    "profiles": _profiles,
    "certificates": _certificates,
    "managed_apps": _managed_apps,
    "apps": _installed_apps,
}
