"""Smart groups: the list with each group's member count, and a form to create one (the API's criteria)."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ...extensions import db
from ...inventory.query import FILTER_VALUES
from ...inventory.sweep import stale_after
from ...models import SmartGroup
from ...models.base import utcnow
from ...paging import id_cursor, page_limit
from ...scope.smart_groups import CriteriaError, InvalidName, member_counts, new_smart_group
from .. import bp
from .library import PAGE_SIZE, PageError, actor

TEXT_CRITERIA = ("os_version_min", "os_version_max", "model_family")
MOMENTS = ("last_seen_after", "last_seen_before")


def criteria_from_form(form: MultiDict) -> dict[str, Any]:
    """The criteria the form describes, in the API's shape (``parse_criteria`` validates them)."""
    criteria: dict[str, Any] = {key: form[key].strip() for key in TEXT_CRITERIA if (form.get(key) or "").strip()}
    for key in ("enrollment_type", "enrollment_method"):
        if form.get(key):
            criteria[key] = form[key]
    for key in MOMENTS:  # a datetime-local input has no zone: the page says UTC
        value = (form.get(key) or "").strip()
        if value:
            criteria[key] = value if value.endswith("Z") or "+" in value else f"{value}+00:00"
    if form.get("flagged") in ("true", "false"):
        criteria["flagged"] = form["flagged"] == "true"
    return criteria


def _render(status: int = 200, error: str | None = None, values: MultiDict | None = None):
    try:
        limit, after = page_limit(request.args, PAGE_SIZE, PageError), id_cursor(request.args, PageError)
    except PageError:
        limit, after = PAGE_SIZE, None
    statement = select(SmartGroup).order_by(SmartGroup.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(SmartGroup.id > after)
    groups = list(db.session.scalars(statement))
    more, groups = len(groups) > limit, groups[:limit]
    members = member_counts(db.session, groups, stale_after(), utcnow())
    return render_template("admin/profiles/smart_groups.html", groups=groups, members=members, error=error,
                           values=values or MultiDict(), methods=FILTER_VALUES["method"],
                           next_cursor=groups[-1].id if more else None), status


@bp.get("/smart-groups")
@login_required
def smart_groups():
    return _render()


@bp.post("/smart-groups")
@login_required
def smart_group_create():
    try:
        group = new_smart_group(db.session, request.form.get("name"), criteria_from_form(request.form), actor())
    except (InvalidName, CriteriaError) as exc:
        db.session.rollback()
        return _render(422, str(exc), request.form)
    db.session.commit()
    flash(f"Smart group {group.name} created.", "info")
    return redirect(url_for("admin.smart_groups")), 303
