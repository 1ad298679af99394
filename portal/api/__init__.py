"""REST API for automation: JSON, bearer tokens, scoped."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from . import (audit_log, auth, bulk_commands, devices, enrollment_profiles, groups,  # noqa: E402,F401
               inventory_settings, migration, openapi, pki, profile_library, profiles, settings)
from . import apps  # noqa: E402,F401
from . import mail, migration_campaign  # noqa: E402,F401
from . import declarations  # noqa: E402,F401
