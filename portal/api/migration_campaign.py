"""The migration campaign over the API: notify by e-mail, import legacy devices from CSV, export, schedule."""
from __future__ import annotations

from flask import Response, g, request, stream_with_context

from .. import audit
from ..errors import api_error
from ..extensions import db
from ..migration import campaign
from ..migration.export import export_csv
from ..migration.notices import notify
from ..migration.paper import MAX_BYTES, ImportRefused, import_legacy_devices
from ..request_body import bounded_body
from . import bp
from .auth import require_scope
from .migration import requested_device_ids


@bp.post("/migration/notify")
@require_scope("migration")
def migration_notify():
    device_ids, refusal = requested_device_ids()
    if refusal is not None:
        return refusal
    result = notify(device_ids, actor=f"token:{g.api_token.name}")
    return {"notified": result.devices, "emails": result.emails, "skipped": result.skipped}, 202


@bp.post("/migration/import")
@require_scope("migration")
def migration_import():
    data = bounded_body(request, MAX_BYTES)
    if data is None:
        return api_error(413, "too_large", f"send at most {MAX_BYTES // 1024 // 1024} MiB of CSV")
    try:
        report = import_legacy_devices(data, actor=f"token:{g.api_token.name}")
    except ImportRefused as exc:
        return api_error(422, "not_a_legacy_device_list", str(exc))
    return report.to_json(), 201 if report.imported else 200


@bp.get("/migration/export")
@require_scope("read", "migration")
def migration_export():
    return Response(stream_with_context(export_csv()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="migration.csv"'})


@bp.route("/migration/campaign", methods=["GET", "PATCH"])
@require_scope("migration")
def migration_campaign():
    current = campaign.load()
    if request.method == "GET":
        return current.to_json()
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return api_error(400, "bad_request", 'send JSON {"grace_days": days or null, "reminder_days": [days, ...]}')
    try:
        updated = campaign.validate(payload, current)
    except ValueError as exc:
        return api_error(422, "invalid_settings", str(exc))
    campaign.save(updated)
    audit.record("settings.changed", target_type="settings", target_id="migration_campaign", detail=updated.to_json())
    db.session.commit()
    return updated.to_json()
