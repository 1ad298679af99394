"""The audit log, read-only: it is append-only everywhere."""
from __future__ import annotations

from flask import request

from ..audit_search import AuditQueryError, parse_audit_query, run_audit_query
from ..errors import api_error
from ..extensions import db
from . import bp
from .auth import require_scope
from .serializers import audit_json


@bp.get("/audit")
@require_scope("audit")
def list_audit_events():
    try:
        query = parse_audit_query(request.args)
    except AuditQueryError as exc:
        return api_error(400, "bad_request", str(exc))
    events, next_cursor = run_audit_query(db.session, query)
    return {"events": [audit_json(e) for e in events], "next": next_cursor}
