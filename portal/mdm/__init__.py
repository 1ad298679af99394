"""Device-facing endpoints: SCEP, check-in and the command connection."""
from flask import Blueprint

bp = Blueprint("mdm", __name__)

from . import identity_scep, scep, views  # noqa: E402,F401
