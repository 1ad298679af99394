"""The declaration library: an API or page request read into a checked draft, stored with its server token.

Saving checks the payload against Apple's schema (``mdm_core.ddm.declarations.validate``): an error
refuses the save (422, naming the key), a warning is kept. What User Enrollment does not allow is
saved, but refused for a scope that reaches user-enrolled devices, with all the declaration brings
(``reach``), as for profiles. A configuration names its assets, and an activation its configurations, by identifier
(``refers_to``): each must be in the library, and follows the declaration that names it into every
device set (``portal.declarations.desired``).
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm_core.ddm.assets import AssetDataError, read_credential, variable_part
from mdm_core.ddm.declarations import is_identifier, server_token, validate
from mdm_core.ddm.tables import DeclarationSpec, declaration_spec
from mdm_core.profile_variables import check_variables, used_variables

from ..database.locks import Lock, hold
from ..ids import json_id
from ..models import App, Declaration, Profile
from ..models.base import utcnow
from ..profiles.library import ProfileRejected
from ..profiles.service import register_profile_listener
from .apps import app_payload, catalogue_app
from .credentials import credential_payload, credential_variables, seal_credential, unseal_credential
from .desired import declaration_changed, reconcile
from .documents import is_per_device, shared_document
from .generated import is_generated
from .reach import delivered_to_user_enrollments, profile_problems
from .served import SERVED_ASSETS, ServedDataError, asset_payload, read_asset_data, url_for_path
from .sync import sync

LEGACY = "com.apple.configuration.legacy"
ACTIVATION_KEYS = ("StandardConfigurations",)
_FIELDS = ("type", "identifier", "payload", "profile_id", "data", "credential", "app_id")


class DeclarationRejected(ProfileRejected):
    """The request cannot be saved: ``status`` (400, 404, 409, 422), ``error`` code and ``detail`` for the API."""


@dataclass(frozen=True)
class Draft:
    """A checked declaration, ready to store."""

    type: str
    identifier: str
    kind: str
    payload: dict[str, Any]
    problems: list[dict[str, Any]]
    refers_to: list[str]
    profile_id: int | None
    asset_data: bytes | None = None
    app_id: int | None = None
    credential_sealed: str | None = None
    credential_variables: frozenset[str] = frozenset()
    profile_revision: str | None = None
    profile_variables: str = ""


def read_draft(session: Session, document: Any, existing: Declaration | None = None) -> Draft:
    """The declaration a request describes (``existing``: the one a PUT edits), or DeclarationRejected."""
    if not isinstance(document, dict):
        raise DeclarationRejected(400, "bad_request", 'send a JSON object: {"type", "identifier", "payload"}')
    unknown = sorted(str(key)[:64] for key in document if key not in _FIELDS)
    if unknown:
        raise DeclarationRejected(400, "bad_request", f"unknown key(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    kind_type = document.get("type", existing.type if existing else None)
    spec = declaration_spec(kind_type) if isinstance(kind_type, str) else None
    if spec is None or not spec.ios_supported:
        raise DeclarationRejected(422, "unknown_type", f"type must be a declaration type iOS takes, such as "
                                                       f"com.apple.configuration.passcode.settings; not {str(kind_type)[:120]!r}")
    if existing is not None and kind_type != existing.type:
        raise DeclarationRejected(409, "type_mismatch", f"this declaration is a {existing.type}; create a new one")
    identifier = _identifier(document.get("identifier"), existing)
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise DeclarationRejected(400, "bad_request", "payload must be a JSON object")
    profile = _legacy_profile(session, kind_type, document.get("profile_id"), payload, identifier)
    app = _catalogue_app(session, kind_type, document.get("app_id", existing.app_id if existing else None))
    if app is not None:
        payload = app_payload(payload, app)
    asset_data = _served_data(kind_type, document, existing)
    if asset_data is not None:
        try:
            payload = asset_payload(kind_type, identifier, payload, asset_data)
        except ServedDataError as exc:
            raise DeclarationRejected(400, "bad_request", str(exc)) from None
    credential, sealed = _served_credential(kind_type, identifier, document, existing) or (None, None)
    if credential is not None:
        payload = credential_payload(identifier, payload, credential)
    found = [p.to_dict() for p in validate(kind_type, payload, user_enrollment=False, identifier=identifier)]
    found += [p.to_dict() for p in check_variables(payload)]
    errors = [p for p in found if p.get("severity") == "error"]
    if errors:
        raise DeclarationRejected(422, "invalid_declaration", {"message": refusal_message(errors), "problems": errors})
    refers_to = _check_named(session, spec, payload)
    return Draft(kind_type, identifier, spec.kind, payload, found, refers_to, None if profile is None else profile.id,
                 asset_data, None if app is None else app.id, sealed,
                 frozenset() if credential is None else frozenset(credential_variables(kind_type, credential)),
                 None if profile is None else profile.revision, "" if profile is None else profile.variables)


def _catalogue_app(session: Session, kind_type: str, app_id: Any) -> App | None:
    try:
        return catalogue_app(session, kind_type, app_id)
    except LookupError as exc:
        raise DeclarationRejected(422, "unknown_app", str(exc)) from None
    except ValueError as exc:
        raise DeclarationRejected(400, "bad_request", str(exc)) from None


def _served_credential(kind_type: str, identifier: str, document: dict[str, Any],
                       existing: Declaration | None) -> tuple[dict[str, Any], str] | None:
    """The credential this server serves for a credential asset and its sealed form: a new one, or a PUT keeps
    the stored one (``"credential": null`` drops it: the payload then names the organisation's own DataURL)."""
    if "credential" not in document:
        if existing is None or existing.credential_sealed is None:
            return None
        stored = unseal_credential(identifier, existing.credential_sealed)
        if stored is None:
            raise DeclarationRejected(409, "credential_unreadable", "the stored credential was sealed under another "
                                                                    "SECRET_KEY: send it again")
        return stored, existing.credential_sealed
    if document["credential"] is None:
        return None
    try:
        credential = read_credential(kind_type, document["credential"])
    except AssetDataError as exc:
        raise DeclarationRejected(400, "bad_request", str(exc)) from None
    problems = check_variables(variable_part(kind_type, credential))
    if problems:
        raise DeclarationRejected(422, "invalid_declaration", {"message": f"credential.{problems[0].message}",
                                                               "problems": [p.to_dict() for p in problems]})
    return credential, seal_credential(identifier, credential)


def _served_data(kind_type: str, document: dict[str, Any], existing: Declaration | None) -> bytes | None:
    """The bytes this server serves for a data or certificate asset: new ones, or a PUT keeps the stored ones."""
    if "data" not in document:
        return existing.asset_data if existing is not None else None
    if kind_type not in SERVED_ASSETS:
        raise DeclarationRejected(400, "bad_request", f"data is only for {', '.join(SERVED_ASSETS)}")
    try:
        return read_asset_data(document["data"])
    except ServedDataError as exc:
        raise DeclarationRejected(400, "bad_request", str(exc)) from None


def _identifier(value: Any, existing: Declaration | None) -> str:
    if existing is not None:
        if value not in (None, existing.identifier):
            raise DeclarationRejected(409, "identifier_mismatch", f"this declaration's identifier is {existing.identifier}")
        return existing.identifier
    if value is None:
        return f"declaration.{uuid.uuid4().hex}"
    if is_generated(value):
        raise DeclarationRejected(409, "identifier_exists", f"{value} is the server's own declaration")
    if not is_identifier(value):
        raise DeclarationRejected(400, "bad_request", "identifier must be 1 to 64 letters, digits or . _ : @ + -, "
                                                      "starting with a letter or digit")
    return value


def _legacy_profile(session: Session, kind_type: str, profile_id: Any, payload: dict[str, Any],
                    identifier: str) -> Profile | None:
    """A legacy-profile configuration wraps a library profile: the server writes its ``ProfileURL``."""
    if kind_type != LEGACY:
        if profile_id is not None:
            raise DeclarationRejected(400, "bad_request", f"profile_id is only for {LEGACY}")
        return None
    if json_id(profile_id) is None:
        raise DeclarationRejected(400, "bad_request", f"{LEGACY} needs profile_id, the id of a library profile")
    profile = session.get(Profile, profile_id)
    if profile is None or profile.deleted_at is not None:
        raise DeclarationRejected(422, "unknown_profile", f"no profile {profile_id} in the library")
    payload["ProfileURL"] = url_for_path("legacy", identifier)
    return profile


def _references(kind: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, identifier)`` for each declaration this one names: an activation's configurations, or the assets a
    configuration's ``...AssetReference(s)`` keys name (at any depth)."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for name, child in value.items():
                walk(child, str(name))
        elif isinstance(value, list):
            for child in value:
                walk(child, key)
        elif isinstance(value, str) and (key.endswith(("AssetReference", "AssetReferences"))
                                         or (kind == "activation" and key in ACTIVATION_KEYS)):
            found.append((key, value))

    walk(payload, "")
    return found


def _check_named(session: Session, spec: DeclarationSpec, payload: dict[str, Any]) -> list[str]:
    """The identifiers the declaration names (its ``refers_to``): each must be in the library, of the kind it
    names, and an asset of a type Apple's schema lets that key name (a mail account's user identity cannot be a
    data asset); else DeclarationRejected (422)."""
    references = _references(spec.kind, payload)
    identifiers = sorted({identifier for _, identifier in references})
    if not identifiers:
        return []
    wanted = "configuration" if spec.kind == "activation" else "asset"
    found = {identifier: (kind, type_) for identifier, kind, type_ in session.execute(
        select(Declaration.identifier, Declaration.kind, Declaration.type).where(Declaration.identifier.in_(identifiers)))}
    wrong = [i for i in identifiers if found.get(i, (None, None))[0] != wanted]
    if wrong:
        raise DeclarationRejected(422, "unknown_reference", f"no {wanted} declaration {', '.join(wrong)[:300]} in the library")
    for key, identifier in references:
        allowed = spec.asset_types.get(key)
        if allowed is not None and found[identifier][1] not in allowed:
            raise DeclarationRejected(422, "wrong_asset_type", f"{key} names {identifier}, a {found[identifier][1]}; "
                                                               f"it takes {' or '.join(allowed)}")
    return identifiers


def declaration_token(type: str, identifier: str, payload: dict[str, Any], profile_revision: str | None) -> str:
    """The server token of a declaration's content; a legacy-profile configuration's covers the revision of the
    profile it wraps too, so the devices fetch it (and the profile) again when the profile is edited."""
    token = server_token(type, identifier, payload)
    if profile_revision is None:
        return token
    return hashlib.sha256(f"{token}\n{profile_revision}".encode()).hexdigest()[:len(token)]


@register_profile_listener
def profile_revised(session: Session, profile: Profile) -> None:
    """A library profile was edited, deleted or revived: refused (DeclarationRejected, the caller rolls back) when
    User Enrollment forbids it and a legacy-profile declaration brings it to user-enrolled devices; else the ones
    wrapping it get new server tokens, and the sets follow (a deleted profile, or one User Enrollment forbids,
    leaves them; a revived one comes back), their devices a first batch of commands (the worker sends the rest).
    The caller commits."""
    wrapping = list(session.scalars(select(Declaration).where(Declaration.profile_id == profile.id)))
    if not wrapping:  # most profiles are delivered by InstallProfile alone: nothing to sync
        return
    hold(session, Lock.DESIRED_STATE)  # before their rows are written: portal.database.locks
    forbidding = profile_problems(profile)
    carrying = sorted(delivered_to_user_enrollments(session, wrapping)) if forbidding else []
    if carrying:
        raise DeclarationRejected(422, "not_allowed_for_scope", {
            "message": f"{', '.join(carrying)[:300]} bring(s) this profile to user-enrolled devices: "
                       f"{refusal_message(forbidding)}", "problems": forbidding})
    for declaration in wrapping:
        declaration.server_token = declaration_token(declaration.type, declaration.identifier, declaration.payload,
                                                     profile.revision)
        declaration.variables = _variables(declaration.payload, profile.variables.split())
    session.flush()
    declaration_changed(session, [declaration.id for declaration in wrapping])
    reconcile(session)
    sync(session)


def store(declaration: Declaration, draft: Draft, actor: str | None) -> bool:
    """Write a draft onto a (new or edited) row; True when its content changed. The caller adds and commits."""
    token = declaration_token(draft.type, draft.identifier, draft.payload, draft.profile_revision)
    variables = _variables(draft.payload, {*draft.profile_variables.split(), *draft.credential_variables})
    # the variables are part of each device's token: a credential 0025 could not open gets its own names when saved
    changed = (token != declaration.server_token or variables != declaration.variables
               or draft.profile_id != declaration.profile_id or draft.app_id != declaration.app_id)
    now = utcnow()
    declaration.type, declaration.identifier, declaration.kind = draft.type, draft.identifier, draft.kind
    declaration.payload, declaration.server_token, declaration.problems = draft.payload, token, draft.problems
    declaration.variables = variables
    declaration.refers_to, declaration.profile_id, declaration.app_id = draft.refers_to, draft.profile_id, draft.app_id
    declaration.asset_data, declaration.credential_sealed = draft.asset_data, draft.credential_sealed
    declaration.document = shared_document(draft.type, draft.identifier, token, draft.payload,
                                           per_device=is_per_device(declaration.variables, draft.profile_id))
    declaration.updated_at, declaration.updated_by = now, actor
    if declaration.created_at is None:
        declaration.created_at, declaration.created_by = now, actor
    return changed


def _variables(payload: dict[str, Any], more: Iterable[str]) -> str:
    """The variables a declaration is filled in with, as ``declarations.variables`` keeps them: its payload's and
    ``more`` (its credential's, a legacy profile's, filled in when the device fetches it), so each moves its token."""
    return " ".join(sorted(used_variables(payload).union(more)))


def refusal_message(problems: list[dict[str, Any]]) -> str:
    """One sentence naming each key (or the type) and why, and the declaration it brings that has it, for the
    API, pages and logs."""
    return "; ".join(f"{p['declaration'] + ', ' if p.get('declaration') else ''}{p.get('key') or 'declaration'}: "
                     f"{p['message']}" for p in problems)


def find_by_identifier(session: Session, identifier: str) -> Declaration | None:
    return session.scalar(select(Declaration).where(Declaration.identifier == identifier))


def declaration_json(declaration: Declaration, forbidding: list[dict[str, Any]],
                     counts: dict[str, int] | None = None) -> dict[str, Any]:
    """The API's form; ``forbidding``: what keeps it, or anything it brings, from user-enrolled devices
    (``reach.user_enrollment_problems``)."""
    data = {"id": declaration.id, "type": declaration.type, "identifier": declaration.identifier,
            "kind": declaration.kind, "server_token": declaration.server_token, "payload": declaration.payload,
            "profile_id": declaration.profile_id, "app_id": declaration.app_id, "problems": declaration.problems,
            "user_enrollment": "forbidden" if forbidding else "allowed",
            "created_at": declaration.created_at.isoformat(), "created_by": declaration.created_by,
            "updated_at": declaration.updated_at.isoformat(), "updated_by": declaration.updated_by}
    if counts is not None:
        data["counts"] = counts
    return data
