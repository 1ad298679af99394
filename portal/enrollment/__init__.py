"""Profile-Driven User Enrollment in Safari (``/enroll``): sign in, privacy disclosure, profile download."""
from flask import Blueprint

bp = Blueprint("enrollment", __name__)

from . import views  # noqa: E402,F401  (routes register on bp)
