"""A profile's scope page (``portal.admin.scope_form.edit_scope``): a profile User Enrollment forbids is refused
naming payload and key."""
from __future__ import annotations

from flask import url_for
from flask_login import login_required

from ...profiles.desired import ITEM_TYPE
from ...profiles.library import ProfileRejected
from ...profiles.service import preview_scope, set_scope
from .. import bp
from ..scope_form import edit_scope
from .library import live_profile, rejection_text


@bp.route("/profiles/<id:profile_id>/scope", methods=["GET", "POST"])
@login_required
def profile_scope(profile_id: int):
    profile = live_profile(profile_id)
    return edit_scope(ITEM_TYPE, profile, title=profile.name,
                      back=(url_for("admin.profile_page", profile_id=profile.id), "Back to the profile"),
                      preview=preview_scope, save=set_scope, rejected=ProfileRejected, describe=rejection_text)
