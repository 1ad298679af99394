"""Declarations (DESIGN section 6): create, list, read, edit, delete, scope and per-device status.

Changes need the ``profiles`` scope (declarations are the declarative form of the same
configuration), reads ``read``; every change is audited by ``portal.declarations.service``.
"""
from __future__ import annotations

from flask import abort, g, request
from sqlalchemy import select

from ..declarations.desired import ITEM_TYPE
from ..declarations.library import DeclarationRejected, declaration_json
from ..declarations.reach import user_enrollment_problems
from ..declarations.reported import device_status_json, status_counts, status_page
from ..declarations.sets import ServedTokens
from ..declarations.service import create_declaration, delete_declaration, set_scope, update_declaration
from ..errors import api_error
from ..extensions import db
from ..models import Declaration, DeclarationStatus
from ..scope.targets import Scope, load_scopes
from . import bp
from .auth import require_scope
from .pages import id_page
from .scope_change import scope_answer


def _actor() -> str:
    return f"token:{g.api_token.name}"


def _rejected(exc: DeclarationRejected):
    db.session.rollback()
    return api_error(exc.status, exc.error, exc.detail)


def _described(declarations: list[Declaration], counts: dict[int, dict[str, int]] | None = None) -> list[dict]:
    """The API's form of each, with whether User Enrollment allows it and all it brings."""
    forbidding = user_enrollment_problems(db.session, declarations)
    return [declaration_json(d, forbidding[d.id], None if counts is None else counts[d.id]) for d in declarations]


def _declaration(declaration_id: int) -> Declaration:
    declaration = db.session.get(Declaration, declaration_id)
    if declaration is None:
        abort(api_error(404, "not_found", f"no declaration {declaration_id}"))
    return declaration


@bp.post("/declarations")
@require_scope("profiles")
def create_library_declaration():
    try:
        declaration = create_declaration(db.session, request.get_json(silent=True), _actor())
    except DeclarationRejected as exc:
        return _rejected(exc)
    db.session.commit()
    return {**_described([declaration])[0], "id": declaration.id}, 201


@bp.get("/declarations")
@require_scope("read")
def list_library_declarations():
    limit, after = id_page()
    statement = select(Declaration).order_by(Declaration.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(Declaration.id > after)
    declarations = list(db.session.scalars(statement))
    more, declarations = len(declarations) > limit, declarations[:limit]
    counts = status_counts(db.session, declarations)
    return {"declarations": _described(declarations, counts),
            "next": str(declarations[-1].id) if more else None}


@bp.get("/declarations/<id:declaration_id>")
@require_scope("read")
def get_library_declaration(declaration_id: int):
    declaration = _declaration(declaration_id)
    scope = load_scopes(db.session, ITEM_TYPE, [declaration.id]).get(declaration.id, Scope())
    return {**_described([declaration], status_counts(db.session, [declaration]))[0], "scope": scope.to_json()}


@bp.put("/declarations/<id:declaration_id>")
@require_scope("profiles")
def update_library_declaration(declaration_id: int):
    declaration = _declaration(declaration_id)
    try:
        changed = update_declaration(db.session, declaration, request.get_json(silent=True), _actor())
    except DeclarationRejected as exc:
        return _rejected(exc)
    db.session.commit()
    return {**_described([declaration])[0], "changed": changed}


@bp.delete("/declarations/<id:declaration_id>")
@require_scope("profiles")
def delete_library_declaration(declaration_id: int):
    declaration = _declaration(declaration_id)
    try:
        delete_declaration(db.session, declaration, _actor())
    except DeclarationRejected as exc:
        return _rejected(exc)
    db.session.commit()
    return {"id": declaration_id, "deleted": True}


@bp.put("/declarations/<id:declaration_id>/scope")
@require_scope("profiles")
def set_library_declaration_scope(declaration_id: int):
    return scope_answer(_declaration(declaration_id), set_scope, DeclarationRejected, _rejected)


@bp.get("/declarations/<id:declaration_id>/status")
@require_scope("read")
def library_declaration_status(declaration_id: int):
    """Per device of the declaration's set: what it last reported (``active``, ``valid``, ``reasons``, and whether
    of the version served now: ``current``); ``status`` is ``pending`` until it reports that version, then
    ``installed`` (active) or ``failed``. A device still reporting it whose set no longer holds it is listed too,
    ``removing`` (as ``counts`` counts it), in the same order by device id."""
    declaration = _declaration(declaration_id)
    limit, after = id_page()
    rows = status_page(db.session, declaration, limit, after)
    more, rows = len(rows) > limit, rows[:limit]
    served = ServedTokens(db.session, [device_id for device_id, status, held in rows if held and status is not None])
    return {"counts": status_counts(db.session, [declaration])[declaration.id],
            "devices": [device_status_json(device_id, status, status and served.of(
                declaration.server_token, declaration.variables, device_id)) if held
                else _removing_json(device_id, status) for device_id, status, held in rows],
            "next": str(rows[-1][0]) if more else None}


def _removing_json(device_id: int, status: DeclarationStatus) -> dict:
    """A device removing the declaration: what it last reported, ``removing`` as its status; no version is served
    to it now (``current``: None) and a removal has no error."""
    return {**device_status_json(device_id, status, None), "status": "removing", "error": None, "current": None}
