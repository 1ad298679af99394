"""Employee sign-in through the organisation's OpenID Connect provider (blueprint ``auth``).

Other flows start sign-in with ``sign_in_url(next, login_hint)`` and read the employee with
``current_end_user()`` or guard views with ``end_user_required``; ``end_employee_sessions(user)`` signs an
employee out everywhere.
"""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import views  # noqa: E402,F401  (routes register on bp)
from .session import current_end_user, end_employee_sessions, end_user_required, sign_in_url  # noqa: E402

__all__ = ["bp", "current_end_user", "end_employee_sessions", "end_user_required", "sign_in_url"]
