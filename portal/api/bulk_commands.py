"""One command to many devices: a list of ids or every device matching a search."""
from __future__ import annotations

from flask import g, request

from mdm_core.capabilities import command_refusal
from mdm_core.commands import device_information

from ..errors import api_error
from ..extensions import db
from ..ids import MAX_ID, json_ids
from ..inventory.query import SEARCH_PARAMETERS, DeviceQueryError, ids_statement, parse_query
from ..inventory.sweep import stale_after
from ..models import BulkCommand
from ..paging import MAX_PAGE_SIZE
from ..remote_commands import BULK_MAX_DEVICES, bulk_progress, bulk_results, send_bulk
from . import bp
from .auth import require_scope
from .devices import command_keys
from .pages import id_page
from .serializers import iso


def command_builder(request_type: str, keys: dict):
    """DeviceInformation without Queries asks each device what its enrollment type allows."""
    if request_type == "DeviceInformation" and "Queries" not in keys:
        return lambda device: device_information(device.enrollment_type)
    return lambda device: {"RequestType": request_type, **keys}


def search_args(search: dict) -> dict[str, str]:
    """The device-list parameters of a JSON ``search``, as ``GET /devices`` reads them from a query string:
    ``true``/``false`` for booleans, a ``null`` left out (no filter, as an absent one); a list or an object is
    refused (DeviceQueryError naming the key)."""
    args = {}
    for key, value in search.items():
        if key not in SEARCH_PARAMETERS or value is None:
            continue
        if isinstance(value, (list, dict)):
            raise DeviceQueryError(f"search.{key} must be a string, number or boolean, not a list or an object")
        args[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return args


@bp.post("/commands/bulk")
@require_scope("commands")
def create_bulk_command():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("request_type"), str):
        return api_error(400, "bad_request", 'send JSON {"request_type": ..., "device_ids": [...] or "search": {...}}')
    refused = command_refusal(payload["request_type"], None)  # no device takes it: refused before a bulk row exists
    if refused is not None:
        return api_error(422, "command_not_allowed", refused)
    device_ids, search = payload.get("device_ids"), payload.get("search")
    if (device_ids is None) == (search is None):
        return api_error(400, "bad_request", "give exactly one of device_ids and search")
    if device_ids is not None:
        device_ids = json_ids(device_ids)
        if device_ids is None:
            return api_error(400, "bad_request", f"device_ids must be a list of device ids (whole numbers 1 to {MAX_ID})")
    else:
        if not g.api_token.allows("read"):  # the devices a search reaches tell who owns what
            return api_error(403, "forbidden", "selecting devices by search needs the 'read' scope as well as 'commands'")
        if not isinstance(search, dict):
            return api_error(400, "bad_request", "search must be an object of device-list parameters")
        try:
            query = parse_query(search_args(search))
        except DeviceQueryError as exc:
            return api_error(400, "bad_request", str(exc))
        device_ids = list(db.session.scalars(ids_statement(query, stale_after()).limit(BULK_MAX_DEVICES + 1)))
    if len(device_ids) > BULK_MAX_DEVICES:
        return api_error(413, "too_many_devices", f"a bulk command reaches at most {BULK_MAX_DEVICES} devices")
    request_type = payload["request_type"]
    try:
        keys = command_keys(payload, ("request_type", "device_ids", "search"))
    except ValueError as exc:
        return api_error(422, "invalid_command", str(exc))
    outcome = send_bulk(device_ids, command_builder(request_type, keys), request_type,
                        created_by=f"token:{g.api_token.name}")
    return {"bulk_id": outcome.bulk.id, "request_type": request_type,
            "queued": outcome.bulk.queued, "refused": len(outcome.bulk.refused), "results": outcome.results}, 201


@bp.get("/commands/bulk/<key:bulk_id>")
@require_scope("read")
def get_bulk_command(bulk_id: str):
    """The progress (counts by status) and one page of per-device results by device id: ``limit`` (default and
    at most 500) and ``cursor`` (the previous page's ``next``), as the other lists; refused devices among them."""
    bulk = db.session.get(BulkCommand, bulk_id)
    if bulk is None:
        return api_error(404, "not_found", f"no bulk command {bulk_id}")
    limit, after = id_page(MAX_PAGE_SIZE)
    items, next_cursor = bulk_results(bulk, limit, after)
    return {
        "bulk_id": bulk.id, "request_type": bulk.request_type, "created_by": bulk.created_by,
        "created_at": iso(bulk.created_at), "progress": bulk_progress(bulk),
        "results": [{"device_id": r["device_id"], "status": "refused", "reason": r["reason"]} if kind == "refused"
                    else {"device_id": r.device_id, "command_uuid": r.command_uuid, "status": r.status,
                          "completed_at": iso(r.completed_at), "error_chain": r.error_chain} for kind, r in items],
        "next": str(next_cursor) if next_cursor is not None else None,
    }
