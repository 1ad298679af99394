"""The scope form the profile and declaration pages share (``admin/_scope_targets.html``): the form becomes the
API's scope document, which ``parse_scope`` validates as it does the API's, and a stored scope becomes the form's
values; so every target the API can set (smart groups, excluded ones included) survives a save from a page."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ..extensions import db
from ..ids import parse_id
from ..models import Group, SmartGroup
from ..scope.targets import MAX_TARGETS

SIDES = ("", "exclude.")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def document_from_form(form: MultiDict) -> dict[str, Any]:
    """The ``PUT .../scope`` JSON the form describes; ``parse_scope`` validates it as it does the API's."""
    sides = {}
    for side in SIDES:
        smart = [parse_id(v) for v in form.getlist(side + "smart_groups")]
        sides[side] = {"groups": list(dict.fromkeys(form.getlist(side + "groups")
                                                    + _lines(form.get(side + "groups_other", "")))),
                       "users": _lines(form.get(side + "users", "")),
                       "smart_groups": [v if v is not None else 0 for v in smart]}
    return {"all_user_enrolled": form.get("all_user_enrolled") == "on", "include_legacy": form.get("include_legacy") == "on",
            **sides[""], "exclude": sides["exclude."]}


def form_values(document: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """What the page shows for a scope document: known groups ticked, others as text."""
    values = {"all_user_enrolled": document.get("all_user_enrolled"), "include_legacy": document.get("include_legacy")}
    for side, targets in (("", document), ("exclude.", document.get("exclude", {}))):
        groups = targets.get("groups", [])
        values[side + "groups"] = [g for g in groups if g in known]
        values[side + "groups_other"] = "\n".join(g for g in groups if g not in known)
        values[side + "users"] = "\n".join(targets.get("users", []))
        values[side + "smart_groups"] = list(targets.get("smart_groups", []))
    return values


def scope_choices() -> tuple[list[str], list[SmartGroup]]:
    """The groups and smart groups the form offers as boxes to tick."""
    groups = db.session.execute(select(Group.name).order_by(Group.name).limit(MAX_TARGETS)).scalars().all()
    return list(groups), list(db.session.scalars(select(SmartGroup).order_by(SmartGroup.name).limit(MAX_TARGETS)))
