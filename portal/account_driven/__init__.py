"""Account-Driven User Enrollment (blueprint ``account_driven``): discovery, the enrollment
endpoint the phone POSTs to, and the web sign-in page that hands it an access token."""
from flask import Blueprint

bp = Blueprint("account_driven", __name__)

from . import views  # noqa: E402,F401  (routes register on bp)
