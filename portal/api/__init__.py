"""REST API for automation: JSON, bearer tokens, scoped."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from . import auth, devices, enrollment_profiles, profiles, settings  # noqa: E402,F401
