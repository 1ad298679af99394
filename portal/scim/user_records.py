"""SCIM Users as ``EndUser`` rows: reading, writing and matching them to people who signed in.

The SCIM resource is kept as written (less ``id``, ``meta``, ``groups`` and ``active``, which the server
owns). The Managed Apple ID comes from ``SCIM_MANAGED_APPLE_ID_ATTRIBUTE`` (``userName``, or the primary
address in ``emails``), and is what joins a provisioned person to the one who signs in through OIDC.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from flask import current_app
from scim2_models import Context, EnterpriseUser, PatchOp, ScimPolicy, User
from sqlalchemy import select

from .. import audit
from ..auth.oidc import is_managed_apple_id
from ..desired_state import users_changed, values_changed
from ..extensions import db
from ..models import EndUser, Group, GroupMembership
from ..models.base import utcnow
from ..models.device import claim_unlinked
from ..offboarding import offboard, reactivate
from ..scope.groups import SCIM
from .filters import Stored, boolean_condition, condition
from . import user_forms
from .problems import ScimProblem
from .protocol import check_operation_count, excluded, issued, location, meta, one_line, validated

USER_MODEL = User[EnterpriseUser]
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
#: What a filter may compare for Users, in SQL.
ATTRIBUTES = {
    "id": Stored(EndUser.scim_id),  # our ids are lower-case UUIDs
    "username": Stored(EndUser.user_name),  # stored lower-cased: userName is not case-exact
    "externalid": Stored(EndUser.external_id, case_exact=True),
    "displayname": EndUser.name,
    "emails.value": EndUser.email,
    "active": boolean_condition(EndUser.offboarded_at.is_(None)),
}
_SERVER_OWNED = ("id", "meta", "groups", "active", "password")
#: The resource as stored, serialised: a person's attributes are a few KB, and PATCH ``add`` ops grow
#: multi-valued attributes one request at a time, so the bound is on what is stored, not on one body.
MAX_STORED_RESOURCE = 64 * 1024
#: How a user PATCH is applied: as Entra ID sends it, filling in an attribute the user lacks with a filtered path
#: (``Add phoneNumbers[type eq "mobile"].value``): the entry the filter describes (``eq`` terms joined by ``and``)
#: is added. The RFC's noTarget refused the whole PATCH, with the ``active: False`` Entra sends in the same one.
_PATCH_POLICY = ScimPolicy(unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create)


def linked() -> Any:
    """The people directory sync knows (a person who only signed in is not a SCIM resource)."""
    return select(EndUser).where(EndUser.scim_id.is_not(None))


def find(scim_id: str) -> EndUser:
    user = db.session.scalar(linked().where(EndUser.scim_id == scim_id)) if issued(scim_id) else None
    if user is None:
        raise ScimProblem(404, f"no user with id '{scim_id}'")
    return user


def search(filter_text: str | None) -> Any:
    return linked().where(condition(filter_text, USER_MODEL, ATTRIBUTES))


def resources(users: list[EndUser]) -> list[dict[str, Any]]:
    """Each person's resource; their groups are read in one query for all of them."""
    groups: dict[int, list[dict[str, Any]]] = {user.id: [] for user in users}
    if users and not excluded("groups"):
        rows = db.session.execute(select(GroupMembership.user_id, Group.scim_id, Group.name).join(Group)
                                  .where(GroupMembership.user_id.in_(groups), GroupMembership.source == SCIM,
                                         Group.scim_id.is_not(None)).order_by(Group.name))
        for user_id, group_id, name in rows:
            groups[user_id].append({"value": group_id, "display": name, "$ref": location("Groups", group_id)})
    return [_resource(user, groups[user.id]) for user in users]


def _resource(user: EndUser, groups: list[dict[str, Any]]) -> dict[str, Any]:
    body = dict(user.scim_resource or {})
    body.setdefault("schemas", [USER_SCHEMA])
    body.update(id=user.scim_id, active=user.offboarded_at is None,
                meta=meta("Users", user.scim_id, user.created_at, user.updated_at))
    if groups:
        body["groups"] = groups
    return body


def create(document: dict[str, Any]) -> EndUser:
    """A new person, or the one who already signed in with this Managed Apple ID (adopted). The caller commits."""
    model = validated(USER_MODEL, user_forms.resource(document), Context.RESOURCE_CREATION_REQUEST)
    managed_apple_id = _managed_apple_id(model)
    user = db.session.scalar(select(EndUser).where(EndUser.managed_apple_id == managed_apple_id,
                                                   EndUser.scim_id.is_(None)).order_by(EndUser.id).limit(1))
    adopted = user is not None
    if user is None:
        user = EndUser(source=SCIM, managed_apple_id=managed_apple_id, groups=[])
        db.session.add(user)
    user.scim_id = str(uuid.uuid4())
    _write(user, model, managed_apple_id)
    db.session.flush()
    claimed = claim_unlinked(db.session, user)  # the first to hold the address: what enrolled with it meanwhile
    if not adopted or claimed:  # a device minted for this Managed Apple ID now has their name and e-mail to fill in
        values_changed(db.session, [user.id])
    _set_active(user, model.active is not False)
    audit.record("scim.user.created", target_type="end_user", target_id=user.id,
                 detail={"user_name": user.user_name, "adopted": adopted})
    return user


def replace(user: EndUser, document: dict[str, Any]) -> None:
    model = validated(USER_MODEL, user_forms.resource(document), Context.RESOURCE_REPLACEMENT_REQUEST)
    _replace(user, model, "scim.user.replaced")


def patch(user: EndUser, document: dict[str, Any]) -> None:
    """Apply a PatchOp (Entra ID's capitalised ops and string booleans included) to the stored resource."""
    check_operation_count(document)  # applying each validates the whole resource again: time grows with the square
    operations = validated(PatchOp[USER_MODEL], user_forms.patch(document), Context.RESOURCE_PATCH_REQUEST)
    current = USER_MODEL.model_validate(_resource(user, []), scim_ctx=Context.DEFAULT)
    operations.patch(current, scim_policy=_PATCH_POLICY)
    _replace(user, current, "scim.user.patched")


def _replace(user: EndUser, model: Any, action: str) -> None:
    managed_apple_id = _managed_apple_id(model)
    moved = managed_apple_id != user.managed_apple_id
    _write(user, model, managed_apple_id)
    if model.active is not None:
        _set_active(user, model.active)
    if moved or model.active:  # now holding an address (again): what enrolled with it while nobody did
        claim_unlinked(db.session, user)
    if moved:  # scope matches devices by Managed Apple ID
        users_changed(db.session, [user.id])
    audit.record(action, target_type="end_user", target_id=user.id,
                 detail={"user_name": user.user_name, "active": user.offboarded_at is None})


def delete(user: EndUser) -> None:
    """Deleting from the directory offboards the person; the row stays (their devices' history names them)
    but leaves SCIM: their id answers 404 and the directory may provision them again."""
    offboard(db.session, user, "deleted")
    groups = db.session.execute(GroupMembership.__table__.delete().where(
        GroupMembership.user_id == user.id, GroupMembership.source == SCIM))
    user.scim_id = user.external_id = user.user_name = None
    user.scim_resource = None
    user.updated_at = utcnow()
    if groups.rowcount:
        users_changed(db.session, [user.id])
    audit.record("scim.user.deleted", target_type="end_user", target_id=user.id,
                 detail={"managed_apple_id": user.managed_apple_id})


def _set_active(user: EndUser, active: bool) -> None:
    if not active and user.offboarded_at is None:
        offboard(db.session, user, "deactivated")
    elif active and user.offboarded_at is not None:
        reactivate(db.session, user)


def _write(user: EndUser, model: Any, managed_apple_id: str) -> None:
    user_name = one_line(model.user_name, "userName", 320)
    if not user_name:
        raise ScimProblem(400, "userName is required", "invalidValue")
    external_id = one_line(model.external_id, "externalId", 255)
    name = _display_name(model)
    name = one_line(name[:255], "displayName", 255) if name else user.name
    stored = model.model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    for key in _SERVER_OWNED:
        stored.pop(key, None)
    if len(json.dumps(stored, default=str)) > MAX_STORED_RESOURCE:
        raise ScimProblem(400, f"a user resource may be at most {MAX_STORED_RESOURCE} characters of JSON", "invalidValue")
    with db.session.no_autoflush:  # a new row must not meet itself in the uniqueness checks
        _check_unique(user, user_name, external_id, managed_apple_id)
    email = _primary_email(model)
    before = (user.managed_apple_id, user.email, user.name)
    user.scim_resource = stored
    user.user_name = user_name.lower()  # unique and searched case-insensitively; the resource keeps its case
    user.external_id = external_id
    user.managed_apple_id = managed_apple_id
    user.email = (email or user.email or managed_apple_id)[:320]
    user.name = name
    user.updated_at = utcnow()
    if user.id is not None and (user.managed_apple_id, user.email, user.name) != before:
        values_changed(db.session, [user.id])


def _display_name(model: Any) -> str | None:
    if model.display_name:
        return model.display_name
    if model.name:
        return model.name.formatted or " ".join(p for p in (model.name.given_name, model.name.family_name) if p) or None
    return None


def _check_unique(user: EndUser, user_name: str, external_id: str | None, managed_apple_id: str) -> None:
    """A Managed Apple ID names one person. create() adopts the row of someone who signed in with it, so only
    another directory user holds it; a PUT or PATCH moving a user onto an ID any other row holds is refused,
    because the two rows would never be joined (deactivating this user would leave the one who signs in with
    it untouched), and merging two people's devices and history is not a directory's call: deleting the user
    and provisioning it again adopts that row. A change keeping the ID is never refused over a row that came to
    share it (a sign-in renaming someone), so the directory can still deactivate the user."""
    others = select(EndUser.id).where(EndUser.id != user.id) if user.id else select(EndUser.id)
    if db.session.scalar(others.where(EndUser.user_name == user_name.lower()).limit(1)):
        raise ScimProblem(409, f"userName '{user_name}' is already taken", "uniqueness")
    if external_id and db.session.scalar(others.where(EndUser.external_id == external_id).limit(1)):
        raise ScimProblem(409, f"externalId '{external_id}' is already taken", "uniqueness")
    holders = others.where(EndUser.managed_apple_id == managed_apple_id)
    if managed_apple_id == user.managed_apple_id:  # created (or adopted) with it, or not moved
        holders = holders.where(EndUser.scim_id.is_not(None))
    if db.session.scalar(holders.limit(1)):
        raise ScimProblem(409, f"another person already has the Managed Apple ID '{managed_apple_id}'", "uniqueness")


def _primary_email(model: Any) -> str | None:
    emails = [e for e in (model.emails or []) if e.value]
    chosen = next((e for e in emails if e.primary), None) or next(
        (e for e in emails if e.type and str(getattr(e.type, "value", e.type)) == "work"), None) or (emails[0] if emails else None)
    return str(chosen.value).strip().lower() if chosen else None


def _managed_apple_id(model: Any) -> str:
    attribute = current_app.config.get("SCIM_MANAGED_APPLE_ID_ATTRIBUTE", "userName")
    value = _primary_email(model) if attribute == "emails" else (model.user_name or "").strip().lower()
    if not value or not is_managed_apple_id(value):
        raise ScimProblem(400, f"the {attribute} attribute must hold the person's Managed Apple ID (an address), "
                               f"not {value!r}", "invalidValue")
    return value
