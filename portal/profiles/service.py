"""Changing the library: create, edit, delete a profile and set its scope, each with its audit record,
its reconciliation and a first batch of commands, so the API and the admin pages do the same thing.

Every function raises ``ProfileRejected`` (nothing changed) or leaves the change in the session for
the caller to commit.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..database.locks import Lock, hold
from ..models import Profile, ProfileState
from ..models.base import utcnow
from ..scope.resolve import change_counts
from ..scope.targets import Scope, ScopeError, load_scopes, save_scope, smart_group_criteria
from .delivery import deliver
from .desired import ITEM_TYPE, reconcile, scope_devices
from .library import ProfileRejected, checked_name, find_by_identifier, read_upload, refusal_message, scope_refusal, store

#: The statuses the API counts (``removed`` rows are history).
COUNTED_STATUSES = ("pending", "installed", "failed", "removing")


def create_profile(session: Session, data: bytes, name: str | None, actor: str | None) -> Profile:
    """A new profile from upload bytes; uploading the identifier of a deleted profile revives that row."""
    upload = read_upload(data)
    profile = find_by_identifier(session, upload.identifier)
    if profile is not None and profile.deleted_at is None:
        raise ProfileRejected(409, "identifier_exists", f"profile {profile.id} already has the identifier "
                                                        f"{upload.identifier}; change it with PUT /profiles/{profile.id}")
    revived = profile is not None
    if profile is None:
        profile = Profile(source="upload")
        session.add(profile)
    store(profile, upload, checked_name(name, upload), actor)
    session.flush()
    audit.record("profile.created", target_type="profile", target_id=profile.id,
                 detail={"identifier": profile.identifier, "revision": profile.revision, "revived": revived,
                         "user_enrollment": profile.user_enrollment})
    if revived:  # what wraps it (a legacy-profile declaration) takes it up again
        _revised(session, profile)
    return profile


def update_profile(session: Session, profile: Profile, data: bytes, name: str | None, actor: str | None) -> bool:
    """New bytes for a profile (same PayloadIdentifier); True when anything changed. The devices that
    have it get it again once, as the phone replaces a profile of the same identifier."""
    hold(session, Lock.DESIRED_STATE)  # first: a reconciliation follows its writes (portal.database.locks)
    upload = read_upload(data)
    if upload.identifier != profile.identifier:
        raise ProfileRejected(409, "identifier_mismatch", f"the upload's PayloadIdentifier is {upload.identifier}, "
                                                          f"this profile's is {profile.identifier}; upload it as a new profile")
    new_name = checked_name(name, upload) if name else profile.name
    if upload.revision == profile.revision and new_name == profile.name:
        return False
    scope = load_scopes(session, ITEM_TYPE, [profile.id]).get(profile.id, Scope())
    criteria = smart_group_criteria(session, scope)
    store(profile, upload, new_name, actor)
    refused = scope_refusal(profile, scope, criteria)
    if refused:
        session.rollback()
        raise _not_allowed(refused)
    audit.record("profile.updated", target_type="profile", target_id=profile.id,
                 detail={"identifier": profile.identifier, "revision": profile.revision})
    reconcile(session, profile_ids=[profile.id])
    deliver(session, profile_ids=[profile.id])
    _revised(session, profile)
    return True


def delete_profile(session: Session, profile: Profile, actor: str | None) -> None:
    """Remove the profile from every device that may have it; the row stays until then (and for history)."""
    hold(session, Lock.DESIRED_STATE)  # first: a reconciliation follows its writes (portal.database.locks)
    profile.deleted_at = profile.updated_at = utcnow()
    profile.updated_by = actor
    save_scope(session, ITEM_TYPE, profile.id, Scope())
    audit.record("profile.deleted", target_type="profile", target_id=profile.id,
                 detail={"identifier": profile.identifier})
    session.flush()
    reconcile(session, profile_ids=[profile.id])
    deliver(session, profile_ids=[profile.id])
    _revised(session, profile)


#: ``(session, profile)`` callbacks for a profile edited or deleted, from the parts that wrap profiles (the
#: legacy-profile declarations): they import this part, not the other way round.
_LISTENERS: list[Callable[[Session, Profile], None]] = []


def register_profile_listener(listener: Callable[[Session, Profile], None]) -> Callable[[Session, Profile], None]:
    """Call ``listener`` whenever a profile is edited or deleted (the caller of those commits)."""
    _LISTENERS.append(listener)
    return listener


def _revised(session: Session, profile: Profile) -> None:
    for listener in _LISTENERS:
        listener(session, profile)


@dataclass(frozen=True)
class ScopeChange:
    devices_added: int
    devices_removed: int


def preview_scope(session: Session, profile: Profile, scope: Scope) -> ScopeChange:
    """How many devices ``scope`` would add and remove, against the stored one; ProfileRejected (422) when
    the profile may not have it."""
    try:
        criteria = smart_group_criteria(session, scope)
    except ScopeError as exc:
        raise ProfileRejected(exc.status, "invalid_scope", str(exc)) from None
    refused = scope_refusal(profile, scope, criteria)
    if refused:
        raise _not_allowed(refused)
    now = utcnow()
    stored = load_scopes(session, ITEM_TYPE, [profile.id]).get(profile.id, Scope())
    added, removed = change_counts(session, scope_devices(session, profile, stored, now),
                                   scope_devices(session, profile, scope, now))
    return ScopeChange(added, removed)


def set_scope(session: Session, profile: Profile, scope: Scope) -> ScopeChange:
    """Save ``scope`` and bring the devices in line: a constant number of statements, then one batch of commands."""
    hold(session, Lock.DESIRED_STATE)  # first: a reconciliation follows its writes (portal.database.locks)
    change = preview_scope(session, profile, scope)
    save_scope(session, ITEM_TYPE, profile.id, scope)
    audit.record("profile.scope_changed", target_type="profile", target_id=profile.id,
                 detail={"scope": scope.to_json(), "devices_added": change.devices_added,
                         "devices_removed": change.devices_removed})
    reconcile(session, profile_ids=[profile.id])
    deliver(session, profile_ids=[profile.id])
    return change


def _not_allowed(problems: list[dict]) -> ProfileRejected:
    return ProfileRejected(422, "not_allowed_for_scope", {"message": refusal_message(problems), "problems": problems})


def status_counts(session: Session, profile_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per profile, how many devices are in each counted status."""
    counts = {profile_id: dict.fromkeys(COUNTED_STATUSES, 0) for profile_id in profile_ids}
    if profile_ids:
        rows = session.execute(select(ProfileState.profile_id, ProfileState.status, func.count())
                               .where(ProfileState.profile_id.in_(profile_ids),
                                      ProfileState.status.in_(COUNTED_STATUSES))
                               .group_by(ProfileState.profile_id, ProfileState.status))
        for profile_id, status, count in rows:
            counts[profile_id][status] = count
    return counts



def list_profiles(session: Session, limit: int, after: int | None) -> tuple[list[Profile], dict[int, dict[str, int]], bool]:
    """A page of live profiles by id after ``after``, their status counts (one grouped query), and whether
    more follow: the API's list and the library page alike."""
    statement = select(Profile).where(Profile.deleted_at.is_(None)).order_by(Profile.id).limit(limit + 1)
    if after is not None:
        statement = statement.where(Profile.id > after)
    profiles = list(session.scalars(statement))
    more, profiles = len(profiles) > limit, profiles[:limit]
    return profiles, status_counts(session, [p.id for p in profiles]), more
