"""Inventory settings: how often inventory is collected, when a silent device is flagged."""
from __future__ import annotations

from flask import request

from ..errors import api_error
from ..inventory import settings
from . import bp
from .auth import require_scope


@bp.get("/settings/inventory")
@require_scope("settings")
def get_inventory_settings():
    return settings.current()


@bp.patch("/settings/inventory")
@require_scope("settings")
def patch_inventory_settings():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return api_error(400, "bad_request", "send a JSON object with the settings to change")
    try:
        return settings.update(payload)
    except settings.InventorySettingsError as exc:
        return api_error(422, "invalid_setting", str(exc))
