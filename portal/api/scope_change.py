"""``PUT .../scope`` for every kind of scoped item (profiles, apps, declarations): one reading of the
scope document, one answer (DESIGN section 6, Scope)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request

from ..extensions import db
from ..scope.targets import ScopeError, parse_scope
from ..errors import api_error


def scope_answer(item: Any, set_scope: Callable, rejected: type[Exception], on_rejected: Callable) -> Any:
    """Parse the request's scope, apply it with ``set_scope(session, item, scope)`` and commit; 400/422 for a
    scope we do not accept, ``on_rejected(exc)`` when the kind refuses it (a payload User Enrollment forbids)."""
    try:
        scope = parse_scope(request.get_json(silent=True))
    except ScopeError as exc:
        return api_error(exc.status, "invalid_scope", str(exc))
    try:
        change = set_scope(db.session, item, scope)
    except rejected as exc:
        return on_rejected(exc)
    db.session.commit()
    return {"devices_added": change.devices_added, "devices_removed": change.devices_removed}
