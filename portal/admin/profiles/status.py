"""Per-profile device status (counts and a paged list with each device's ErrorChain), and the rows of one
device's page section."""
from __future__ import annotations

from flask import flash, render_template, request
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import Device, Profile, ProfileState
from ...models.profile import PROFILE_STATUSES, ProfileStatus
from ...paging import id_cursor, page_limit
from ...profiles.service import status_counts
from .. import bp
from .library import PAGE_SIZE, PageError, live_profile


@bp.get("/profiles/<id:profile_id>/status")
@login_required
def profile_status(profile_id: int):
    profile = live_profile(profile_id)
    status = request.args.get("status") or None
    try:
        if status is not None and status not in PROFILE_STATUSES:
            raise PageError(f"status must be one of {', '.join(PROFILE_STATUSES)}")
        limit, after = page_limit(request.args, PAGE_SIZE, PageError), id_cursor(request.args, PageError)
    except PageError as exc:
        flash(str(exc), "error")
        status, limit, after = None, PAGE_SIZE, None
    statement = (select(ProfileState, Device).join(Device, Device.id == ProfileState.device_id)
                 .where(ProfileState.profile_id == profile.id,
                        ProfileState.status == status if status else ProfileState.status != ProfileStatus.REMOVED)
                 .order_by(ProfileState.device_id).limit(limit + 1))
    if after is not None:
        statement = statement.where(ProfileState.device_id > after)
    rows = db.session.execute(statement).all()
    more, rows = len(rows) > limit, rows[:limit]
    return render_template("admin/profiles/status.html", profile=profile, rows=rows, status=status,
                           statuses=PROFILE_STATUSES, counts=status_counts(db.session, [profile.id])[profile.id],
                           next_cursor=rows[-1][0].device_id if more else None)


def device_profile_rows(session: Session, device_id: int) -> list[tuple[ProfileState, Profile]]:
    """A device's desired-state rows with their profiles, for the device page (removed ones are history)."""
    return session.execute(select(ProfileState, Profile).join(Profile, Profile.id == ProfileState.profile_id)
                           .where(ProfileState.device_id == device_id, ProfileState.status != ProfileStatus.REMOVED)
                           .order_by(Profile.name)).all()
