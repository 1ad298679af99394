"""The inventory settings (schedule and stale flag), validated once for the API and the console."""
from __future__ import annotations

from typing import Any, Mapping

from .. import audit
from ..extensions import db
from ..settings_store import get_setting, set_setting
from .sweep import DEFAULT_INTERVAL_HOURS, DEFAULT_STALE_AFTER_DAYS

LIMITS = {"inventory_interval_hours": (1, 24 * 30), "stale_after_days": (1, 365)}
DEFAULTS = {"inventory_interval_hours": DEFAULT_INTERVAL_HOURS, "stale_after_days": DEFAULT_STALE_AFTER_DAYS}


class InventorySettingsError(ValueError):
    """A setting is unknown or out of range; the message says which and the allowed range."""


def current() -> dict[str, int]:
    return {key: get_setting(key, default) for key, default in DEFAULTS.items()}


def update(changes: Mapping[str, Any]) -> dict[str, int]:
    """Validate and store a partial update, audited with the old and new values; commits."""
    for key, value in changes.items():
        if key not in LIMITS:
            raise InventorySettingsError(f"unknown setting {key!r}; known: {', '.join(LIMITS)}")
        low, high = LIMITS[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InventorySettingsError(f"{key} must be a whole number from {low} to {high}")
    before = current()
    for key, value in changes.items():
        set_setting(key, value)
    changed = {k: {"old": before[k], "new": v} for k, v in changes.items() if before[k] != v}
    if changed:
        audit.record("settings.changed", target_type="settings", target_id="inventory", detail=changed)
    db.session.commit()
    return current()
