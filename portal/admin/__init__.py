"""Admin web pages: sign-in and the console."""
from flask import Blueprint, current_app

bp = Blueprint("admin", __name__)

# The console's navigation; an entry shows only once its page exists.
NAV = (
    ("admin.index", "Dashboard"),
    ("admin.devices", "Devices"),
    ("admin.migration", "Migration"),
    ("admin.profiles", "Profiles"),
    ("admin.apps", "Apps"),
    ("admin.declarations", "Declarations"),
    ("admin.enrollment_settings", "Enrollment settings"),
    ("admin.push_certificate", "Push certificate"),
    ("admin.api_tokens", "API tokens"),
    ("admin.audit_log", "Audit log"),
    ("admin.people", "People"),
    ("admin.groups", "Groups"),
    ("admin.mail", "Mail"),
    ("admin.alerts", "Alerts"),
)


@bp.app_context_processor
def navigation():
    return {"admin_nav": lambda: [(e, label) for e, label in NAV if e in current_app.view_functions]}


from . import api_tokens, auth, devices, enrollment_settings, migration, push_certificate, views  # noqa: E402,F401  (routes register on bp)
from . import profiles  # noqa: E402,F401  (configuration profile pages)
from . import app_pages, apps  # noqa: E402,F401
from . import people  # noqa: E402,F401  (directory pages)
from . import alerts, mail, mail_templates, migration_campaign  # noqa: E402,F401
from . import declarations  # noqa: E402,F401
