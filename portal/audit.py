"""Write audit events for the current request's actor (admin, API token, employee or system)."""
from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request
from flask_login import current_user

from .extensions import db
from .models import AuditEvent


def _current_actor() -> tuple[str, str | None]:
    if not has_request_context():
        return "system", None
    if getattr(g, "api_token", None) is not None:
        return "api", f"token:{g.api_token.name}"
    if getattr(g, "end_user", None) is not None:
        return "user", g.end_user.managed_apple_id
    # The console's admin acts only through the console: a browser that also holds an admin session is
    # still just a visitor on the employee pages, its failed sign-in nobody's act but the system's.
    if request.blueprint == "admin" and current_user and current_user.is_authenticated:
        return "admin", current_user.email
    return "system", None


def record(action: str, *, target_type: str | None = None, target_id: Any = None,
           detail: dict[str, Any] | None = None, actor_type: str | None = None, actor: str | None = None) -> AuditEvent:
    """Add an audit event to the session; it commits with the change it describes."""
    default_type, default_actor = _current_actor()
    event = AuditEvent(
        actor_type=actor_type or default_type,
        actor=actor if actor is not None else default_actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        detail=detail,
        remote_addr=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event
