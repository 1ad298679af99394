"""Enrollment settings over the API (DESIGN.md section 6): read with ``read``, partial update with ``settings``."""
from __future__ import annotations

from flask import jsonify, request

from .. import audit
from ..errors import api_error
from ..extensions import db
from ..settings_store import SettingsValidationError, load_enrollment_settings, update_enrollment_settings
from . import bp
from .auth import require_scope


@bp.get("/settings/enrollment")
@require_scope("read")
def get_enrollment_settings():
    return jsonify(load_enrollment_settings().to_json())


@bp.patch("/settings/enrollment")
@require_scope("settings")
def patch_enrollment_settings():
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict):
        return api_error(400, "bad_request", "send a JSON object with the settings to change")
    try:
        settings, changed = update_enrollment_settings(changes)
    except SettingsValidationError as exc:
        return api_error(422, "invalid_settings", exc.errors)
    if changed:
        audit.record("settings.enrollment_updated", target_type="settings", target_id="enrollment",
                     detail={"changed": changed})
    db.session.commit()
    return jsonify(settings.to_json())
