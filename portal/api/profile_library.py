"""The profile library: upload, list, read, edit, delete, scope and per-device status (DESIGN section 6)."""
from __future__ import annotations

from flask import abort, g, request
from sqlalchemy import select

from ..errors import api_error
from ..extensions import db
from ..models import Profile, ProfileState
from ..models.profile import PROFILE_STATUSES, ProfileStatus
from ..profiles.desired import ITEM_TYPE
from ..profiles.library import ProfileRejected, profile_json
from ..profiles.service import create_profile, delete_profile, list_profiles, set_scope, status_counts, update_profile
from ..scope.targets import Scope, load_scopes
from . import bp
from .auth import require_scope
from .pages import id_page
from .scope_change import scope_answer


def _actor() -> str:
    return f"token:{g.api_token.name}"


def _rejected(exc: ProfileRejected):
    db.session.rollback()
    return api_error(exc.status, exc.error, exc.detail)


def _profile(profile_id: int) -> Profile:
    """The live profile, or abort with 404."""
    profile = db.session.get(Profile, profile_id)
    if profile is None or profile.deleted_at is not None:
        abort(api_error(404, "not_found", f"no profile {profile_id}"))
    return profile


def _body() -> bytes:
    """The uploaded .mobileconfig, or abort with 400 when the body is empty."""
    data = request.get_data()
    if not data:
        abort(api_error(400, "not_a_profile", "send the bytes of a .mobileconfig as the request body"))
    return data


@bp.post("/profiles")
@require_scope("profiles")
def create_library_profile():
    data = _body()
    try:
        profile = create_profile(db.session, data, request.args.get("name"), _actor())
    except ProfileRejected as exc:
        return _rejected(exc)
    db.session.commit()
    return profile_json(profile), 201


@bp.get("/profiles")
@require_scope("read")
def list_library_profiles():
    profiles, counts, more = list_profiles(db.session, *id_page())
    return {"profiles": [profile_json(p, counts[p.id]) for p in profiles],
            "next": str(profiles[-1].id) if more else None}


@bp.get("/profiles/<id:profile_id>")
@require_scope("read")
def get_library_profile(profile_id: int):
    profile = _profile(profile_id)
    scope = load_scopes(db.session, ITEM_TYPE, [profile.id]).get(profile.id, Scope())
    return {**profile_json(profile, status_counts(db.session, [profile.id])[profile.id]), "scope": scope.to_json()}


@bp.put("/profiles/<id:profile_id>")
@require_scope("profiles")
def update_library_profile(profile_id: int):
    profile = _profile(profile_id)
    data = _body()
    try:
        changed = update_profile(db.session, profile, data, request.args.get("name"), _actor())
    except ProfileRejected as exc:
        return _rejected(exc)
    db.session.commit()
    return {**profile_json(profile), "changed": changed}


@bp.delete("/profiles/<id:profile_id>")
@require_scope("profiles")
def delete_library_profile(profile_id: int):
    profile = _profile(profile_id)
    delete_profile(db.session, profile, _actor())
    db.session.commit()
    return {"id": profile.id, "deleted": True}


@bp.put("/profiles/<id:profile_id>/scope")
@require_scope("profiles")
def set_library_profile_scope(profile_id: int):
    return scope_answer(_profile(profile_id), set_scope, ProfileRejected, _rejected)


@bp.get("/profiles/<id:profile_id>/status")
@require_scope("read")
def library_profile_status(profile_id: int):
    profile = _profile(profile_id)
    status = request.args.get("status")
    if status and status not in PROFILE_STATUSES:
        return api_error(400, "bad_request", f"status must be one of {', '.join(PROFILE_STATUSES)}")
    limit, after = id_page()
    statement = (select(ProfileState).where(ProfileState.profile_id == profile.id)
                 .order_by(ProfileState.device_id).limit(limit + 1))
    statement = statement.where(ProfileState.status == status if status
                                else ProfileState.status != ProfileStatus.REMOVED)
    if after is not None:
        statement = statement.where(ProfileState.device_id > after)
    states = list(db.session.scalars(statement))
    more, states = len(states) > limit, states[:limit]
    return {"counts": status_counts(db.session, [profile.id])[profile.id],
            "devices": [state_json(state) for state in states],
            "next": str(states[-1].device_id) if more else None}


def state_json(state: ProfileState) -> dict:
    """One device's state for one profile, as the status list and the device show it."""
    return {"device_id": state.device_id, "profile_id": state.profile_id, "operation": state.operation,
            "status": state.status, "error": state.error, "error_chain": state.error_chain,
            "attempts": state.attempts, "revision": state.revision,
            "next_attempt_at": state.next_attempt_at.isoformat() if state.next_attempt_at else None,
            "updated_at": state.updated_at.isoformat()}
