"""The declarations pages: the library with a form to add one, each declaration with its scope, payload and
per-device status, and the DDM part of the device page. Every change goes through
``portal.declarations.service`` (validated and audited as through the API): an asset's file or credential
from the form becomes the API's ``data`` or ``credential``."""
from __future__ import annotations

import base64
import json
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from mdm_core import bounded_json
from mdm_core.ddm import MANAGED_APP_TYPE
from mdm_core.ddm.assets import CERTIFICATE, CREDENTIALS, IDENTITY, MAX_CREDENTIAL_BYTES, USER_PASSWORD
from mdm_core.ddm.tables import declaration_types

from ..declarations.desired import ITEM_TYPE
from ..declarations.library import LEGACY, DeclarationRejected, refusal_message
from ..declarations.reach import user_enrollment_problems
from ..declarations.served import MAX_ASSET_BYTES, SERVED_ASSETS
from ..declarations.reported import outdated_on_device, status_counts, status_page
from ..declarations.sets import ServedTokens
from ..declarations.service import create_declaration, delete_declaration, set_scope, update_declaration
from ..extensions import db
from ..ids import parse_id
from ..models import App, DdmEnrollment, Declaration, DeclarationStatus, Device, Profile
from ..paging import id_cursor, page_limit
from ..scope.targets import Scope, ScopeError, load_scopes, parse_scope
from . import bp
from .profiles.library import PAGE_SIZE, PageError
from .scope_form import document_from_form, form_values, saved_message, scope_choices

MAX_PAYLOAD_TEXT = 256 * 1024
STATUS_ROWS = 200


def _actor() -> str:
    return current_user.email


def _say(exc: DeclarationRejected) -> None:
    db.session.rollback()
    detail = exc.detail
    flash(detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail), "error")


def _payload_from_form() -> dict[str, Any] | None:
    """The payload textarea as JSON; None (with a message) when it is not a JSON object."""
    text = request.form.get("payload", "").strip() or "{}"
    try:
        payload = bounded_json.loads(text) if len(text) <= MAX_PAYLOAD_TEXT else None
    except ValueError as exc:
        flash(f"The payload is not JSON: {exc}", "error")
        return None
    if not isinstance(payload, dict):
        flash(f"The payload must be a JSON object of at most {MAX_PAYLOAD_TEXT} characters.", "error")
        return None
    return payload


def _id_field(name: str) -> int | str:
    """The field's id, or its text as given, which the service refuses saying what it needs."""
    value = request.form.get(name, "")
    number = parse_id(value)
    return value if number is None else number


def _upload(field: str, limit: int) -> bytes | None:
    """An uploaded file's bytes, read no further than ``limit`` and one byte more (the service says it is too large)."""
    upload = request.files.get(field)
    return upload.read(limit + 1) if upload is not None and upload.filename else None


def _served_from_form(document: dict[str, Any], kind_type: str) -> None:
    """An asset's file (``data``) or credential from the form, as the API takes them; nothing given keeps what
    is stored. A new certificate's media type follows from the file (PEM or DER)."""
    if kind_type in SERVED_ASSETS:
        data = _upload("data", MAX_ASSET_BYTES)
        if data is not None:
            document["data"] = data
            reference = document["payload"].get("Reference")
            reference = reference if isinstance(reference, dict) and kind_type != CERTIFICATE else {}
            media_type = request.form.get("content_type", "").strip()
            document["payload"]["Reference"] = {**reference, **({"ContentType": media_type} if media_type else {})}
    elif kind_type == USER_PASSWORD and request.form.get("credential_user_name", "").strip():
        document["credential"] = {"UserName": request.form["credential_user_name"].strip()}
        if request.form.get("credential_password"):
            document["credential"]["Password"] = request.form["credential_password"]
    elif kind_type == IDENTITY:
        identity = _upload("identity", MAX_CREDENTIAL_BYTES)
        if identity is not None:
            document["credential"] = {"Password": request.form.get("identity_password", ""),
                                      "Identity": base64.b64encode(identity).decode()}


@bp.get("/declarations")
@login_required
def declarations():
    """One page of the library by id (as the profile library's), with the counts of that page's declarations."""
    try:
        limit, after = page_limit(request.args, PAGE_SIZE, PageError), id_cursor(request.args, PageError)
    except PageError as exc:
        flash(str(exc), "error")
        limit, after = PAGE_SIZE, None
    statement = select(Declaration).order_by(Declaration.id).limit(limit + 1)
    rows = list(db.session.scalars(statement if after is None else statement.where(Declaration.id > after)))
    more, rows = len(rows) > limit, rows[:limit]
    profiles = db.session.execute(select(Profile.id, Profile.name).where(Profile.deleted_at.is_(None))
                                  .order_by(Profile.name)).all()
    apps = db.session.execute(select(App.id, App.name, App.source, App.adam_id, App.manifest_url)
                              .where(App.deleted_at.is_(None)).order_by(App.name, App.id)).all()
    return render_template("admin/declarations.html", declarations=rows, counts=status_counts(db.session, rows, states=False),
                           types=declaration_types(user_enrollment=True), profiles=profiles, legacy=LEGACY,
                           form=request.args, max_asset_kib=MAX_ASSET_BYTES // 1024, apps=apps,
                           managed_app=MANAGED_APP_TYPE, next_cursor=rows[-1].id if more else None)


@bp.post("/declarations")
@login_required
def declaration_create():
    payload = _payload_from_form()
    if payload is None:
        return redirect(url_for("admin.declarations")), 303
    document: dict[str, Any] = {"type": request.form.get("type", ""), "payload": payload}
    if request.form.get("identifier", "").strip():
        document["identifier"] = request.form["identifier"].strip()
    if document["type"] == LEGACY:
        document["profile_id"] = _id_field("profile_id")
    if document["type"] == MANAGED_APP_TYPE and request.form.get("app_id"):
        document["app_id"] = _id_field("app_id")
    _served_from_form(document, document["type"])
    try:
        declaration = create_declaration(db.session, document, _actor())
    except DeclarationRejected as exc:
        _say(exc)
        return redirect(url_for("admin.declarations")), 303
    db.session.commit()
    flash(f"Declaration {declaration.identifier} saved. Set its scope to send it to devices.", "info")
    return redirect(url_for("admin.declaration", declaration_id=declaration.id)), 303


def _declaration(declaration_id: int) -> Declaration:
    return db.session.get(Declaration, declaration_id) or abort(404)


@bp.get("/declarations/<id:declaration_id>")
@login_required
def declaration(declaration_id: int):
    declaration = _declaration(declaration_id)
    scope = load_scopes(db.session, ITEM_TYPE, [declaration.id]).get(declaration.id, Scope())
    rows = status_page(db.session, declaration, STATUS_ROWS, None)
    names = {device_id: (apple_id, model) for device_id, apple_id, model in db.session.execute(
        select(Device.id, Device.managed_apple_id, Device.model_name).where(Device.id.in_([r[0] for r in rows])))}
    devices = [(device_id, *names.get(device_id, (None, None)), status, held)
               for device_id, status, held in rows[:STATUS_ROWS]]
    forbidden = user_enrollment_problems(db.session, [declaration])[declaration.id]
    groups, smart_groups = scope_choices(scope.to_json())
    reporting = [device_id for device_id, status, held in rows[:STATUS_ROWS] if held and status is not None]
    served = ServedTokens(db.session, reporting)
    served_tokens = {device_id: served.of(declaration.server_token, declaration.variables, device_id)
                     for device_id in reporting}
    return render_template("admin/declaration.html", declaration=declaration, devices=devices, served_tokens=served_tokens,
                           more_devices=len(rows) > STATUS_ROWS,
                           groups=groups, smart_groups=smart_groups, values=form_values(scope.to_json(), set(groups)),
                           counts=status_counts(db.session, [declaration])[declaration.id],
                           payload=json.dumps(declaration.payload, indent=2, sort_keys=True),
                           forbidden=refusal_message(forbidden) if forbidden else None,
                           served=declaration.type in SERVED_ASSETS, credential=CREDENTIALS.get(declaration.type),
                           credential_stored=declaration.credential_sealed is not None,
                           max_asset_kib=MAX_ASSET_BYTES // 1024)


@bp.post("/declarations/<id:declaration_id>")
@login_required
def declaration_update(declaration_id: int):
    declaration = _declaration(declaration_id)
    payload = _payload_from_form()
    if payload is not None:
        document: dict[str, Any] = {"payload": payload}
        if declaration.profile_id is not None:
            document["profile_id"] = declaration.profile_id
        _served_from_form(document, declaration.type)
        try:
            changed = update_declaration(db.session, declaration, document, _actor())
        except DeclarationRejected as exc:
            _say(exc)
        else:
            db.session.commit()
            flash("Saved: devices that have it fetch it again." if changed else "Nothing changed.", "info")
    return redirect(url_for("admin.declaration", declaration_id=declaration_id)), 303


@bp.post("/declarations/<id:declaration_id>/scope")
@login_required
def declaration_scope(declaration_id: int):
    declaration = _declaration(declaration_id)
    try:
        scope = parse_scope({**document_from_form(request.form), "include_legacy": False})  # DDM is User Enrollment's
        change = set_scope(db.session, declaration, scope)
    except ScopeError as exc:
        flash(str(exc), "error")
    except DeclarationRejected as exc:
        _say(exc)
    else:
        db.session.commit()
        flash(saved_message(change), "info")
    return redirect(url_for("admin.declaration", declaration_id=declaration_id)), 303


@bp.post("/declarations/<id:declaration_id>/delete")
@login_required
def declaration_delete(declaration_id: int):
    declaration = _declaration(declaration_id)
    try:
        delete_declaration(db.session, declaration, _actor())
    except DeclarationRejected as exc:
        _say(exc)
        return redirect(url_for("admin.declaration", declaration_id=declaration_id)), 303
    db.session.commit()
    flash("Declaration deleted: devices drop it at their next sync.", "info")
    return redirect(url_for("admin.declarations")), 303


def device_declarations(device_id: int) -> dict[str, Any] | None:
    """The device page's DDM part: None for a device on the command path."""
    ddm = db.session.get(DdmEnrollment, device_id)
    if ddm is None:
        return None
    statuses = list(db.session.scalars(select(DeclarationStatus).where(DeclarationStatus.device_id == device_id)
                                       .order_by(DeclarationStatus.identifier).limit(STATUS_ROWS)))
    return {"ddm": ddm, "statuses": statuses, "outdated": outdated_on_device(db.session, device_id, statuses)}


@bp.app_context_processor
def _device_declarations():
    return {"device_declarations": device_declarations}
