"""The scope form the profile, app and declaration pages share (``admin/_scope_targets.html``): the form becomes the
API's scope document, which ``parse_scope`` validates as it does the API's, and a stored scope becomes the form's
values; so every target the API can set (smart groups, excluded ones included) survives a save from a page.
``edit_scope`` is the profiles' and apps' editor: "Preview" shows how many devices the change adds and removes
(the SQL ``PUT .../scope`` runs), "Save" saves it, and an item User Enrollment forbids is refused, saying why."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from ..extensions import db
from ..ids import parse_id
from ..models import Group, SmartGroup
from ..profiles.service import ScopeChange
from ..scope.targets import MAX_TARGETS, Scope, ScopeError, load_scopes, parse_scope

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


def scope_choices(document: dict[str, Any] | None = None) -> tuple[list[str], list[SmartGroup]]:
    """The groups and smart groups the form offers as boxes to tick: the first ``MAX_TARGETS`` by name, and the smart
    groups ``document`` names beyond them (a group beyond them shows as text), so a save keeps every target."""
    groups = db.session.execute(select(Group.name).order_by(Group.name).limit(MAX_TARGETS)).scalars().all()
    smart_groups = list(db.session.scalars(select(SmartGroup).order_by(SmartGroup.name).limit(MAX_TARGETS)))
    named = {i for targets in (document or {}, (document or {}).get("exclude", {}))
             for i in targets.get("smart_groups", []) if isinstance(i, int)} - {group.id for group in smart_groups}
    if 0 < len(named) <= MAX_TARGETS:  # more is no scope (parse_scope says so), and no statement takes 65,536
        smart_groups += db.session.scalars(select(SmartGroup).where(SmartGroup.id.in_(named))
                                           .order_by(SmartGroup.name))
    return list(groups), smart_groups


def saved_message(change: ScopeChange) -> str:
    def devices(n: int) -> str:
        return f"{n} device{'s' if n != 1 else ''}"
    return f"Scope saved: {devices(change.devices_added)} added, {devices(change.devices_removed)} removed."


def edit_scope(item_type: str, item: Any, *, title: str, back: tuple[str, str],
               preview: Callable[[Session, Any, Scope], ScopeChange],
               save: Callable[[Session, Any, Scope], ScopeChange], rejected: type[Exception],
               describe: Callable[[Any], str]) -> ResponseReturnValue:
    """The scope page of ``item`` (its stored scope on GET; the posted one previewed or saved on POST): ``back``
    is the item page's URL and link text, where a save returns; ``rejected`` (with ``status`` and ``detail``) is
    what ``preview`` and ``save`` raise for an item the scope may not have, ``describe`` says it in a sentence."""
    if request.method == "GET":
        document = load_scopes(db.session, item_type, [item.id]).get(item.id, Scope()).to_json()
    else:
        document = document_from_form(request.form)
    groups, smart_groups = scope_choices(document)
    context: dict[str, Any] = {"title": title, "back_url": back[0], "back_label": back[1], "groups": groups,
                               "smart_groups": smart_groups, "preview": None, "error": None,
                               "values": form_values(document, set(groups))}
    if request.method == "GET":
        return render_template("admin/scope.html", **context)
    try:
        scope = parse_scope(document)
        if request.form.get("action") == "save":
            change = save(db.session, item, scope)
            db.session.commit()
            flash(saved_message(change), "info")
            return redirect(back[0]), 303
        context["preview"] = preview(db.session, item, scope)
    except ScopeError as exc:
        context["error"], status = str(exc), exc.status
    except rejected as exc:
        db.session.rollback()
        context["error"], status = describe(exc), getattr(exc, "status", 400)
        detail = getattr(exc, "detail", None)
        context["problems"] = detail.get("problems") if isinstance(detail, dict) else None
    else:
        status = 200
    return render_template("admin/scope.html", **context), status
