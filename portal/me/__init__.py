"""The employee's transparency page: exactly what the organisation's server holds about each of
their devices, from the same function the admin device page uses."""
from flask import Blueprint, g, render_template

from ..apps.service import device_apps
from ..auth import end_user_required
from ..extensions import db
from ..inventory.disclosure import COMMAND_DESCRIPTIONS, VALID_STATES, holdings_for
from ..migration.actions import notice_for
from ..private_pages import keep_private
from ..settings_store import load_enrollment_settings
from .org_profiles import org_profiles

bp = Blueprint("me", __name__)
keep_private(bp)


@bp.get("/")
@end_user_required
def what_we_hold():
    held = holdings_for(g.end_user)
    return render_template("me/what_we_hold.html", settings=load_enrollment_settings(), end_user=g.end_user,
                           holdings=held, descriptions=COMMAND_DESCRIPTIONS, valid_states=VALID_STATES,
                           migration_rows=notice_for(g.end_user),
                           org_profiles=org_profiles(g.end_user, [h.device for h in held]),
                           org_apps=device_apps(db.session, [h.device.id for h in held]))
