"""Mail (DESIGN.md section 6): a test message through the outbox."""
from __future__ import annotations

from flask import request

from ..errors import api_error
from ..extensions import db
from ..mail.outbox import queue_test_message
from ..mail.smtp_url import check_address
from . import bp
from .auth import require_scope


@bp.post("/mail/test")
@require_scope("mail", "settings")
def mail_test():
    payload = request.get_json(silent=True)
    to = payload.get("to") if isinstance(payload, dict) else None
    if not isinstance(to, str):
        return api_error(400, "bad_request", 'send JSON {"to": "someone@example.org"}')
    try:
        address = check_address(to)
    except ValueError as exc:
        return api_error(422, "bad_address", str(exc))
    outbox_id = queue_test_message(address)
    db.session.commit()
    return {"queued": True, "outbox_id": outbox_id, "to": address}, 202
