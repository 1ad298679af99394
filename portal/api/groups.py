"""Groups (from sign-in and directory sync) and smart groups (saved device searches), the blocks of a scope."""
from __future__ import annotations

from flask import g, request
from sqlalchemy import func, select

from ..errors import api_error
from ..extensions import db
from ..inventory.sweep import stale_after
from ..models import Group, GroupMembership, SmartGroup
from ..models.base import utcnow
from ..scope.smart_groups import CriteriaError, InvalidName, count_members, new_smart_group
from . import bp
from .auth import require_scope
from .pages import id_page


@bp.get("/groups")
@require_scope("read")
def list_groups():
    limit, after = id_page()
    members = (select(func.count(func.distinct(GroupMembership.user_id))).where(GroupMembership.group_id == Group.id)
               .scalar_subquery())
    statement = select(Group, members).order_by(Group.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(Group.id > after)
    rows = db.session.execute(statement).all()
    more, rows = len(rows) > limit, rows[:limit]
    return {"groups": [{"id": group.id, "name": group.name, "source": group.source, "members": count}
                       for group, count in rows],
            "next": str(rows[-1][0].id) if more else None}


def _smart_group_json(group: SmartGroup) -> dict:
    return {"id": group.id, "name": group.name, "criteria": group.criteria,
            "devices": count_members(db.session, group, stale_after(), utcnow())}


@bp.post("/smart-groups")
@require_scope("profiles")
def create_smart_group():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        return api_error(400, "bad_request", 'send JSON {"name": "...", "criteria": {...}}')
    try:
        group = new_smart_group(db.session, payload["name"], payload.get("criteria", {}),
                                   f"token:{g.api_token.name}")
    except InvalidName as exc:
        return api_error(422, "invalid_name", str(exc))
    except CriteriaError as exc:
        return api_error(422, "invalid_criteria", str(exc))
    body = _smart_group_json(group)  # counted before the commit: a group that cannot be counted is not kept
    db.session.commit()
    return body, 201


@bp.get("/smart-groups/<id:group_id>")
@require_scope("read")
def get_smart_group(group_id: int):
    group = db.session.get(SmartGroup, group_id)
    if group is None:
        return api_error(404, "not_found", f"no smart group {group_id}")
    return _smart_group_json(group)
