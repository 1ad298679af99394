"""Admin sign-in with lock-out after repeated failures (``lockout.py``), sign-out that ends every session."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from .. import audit
from ..extensions import db, login_manager
from ..ids import MAX_ID, parse_id, parse_int
from ..models import Admin
from ..models.admin import burn_password_check
from ..models.base import utcnow
from ..safe_redirect import form_page, safe_page
from ..session_cookie import renew_csrf_token
from . import bp
from .forms import MAX_EMAIL_LENGTH, LoginForm
from .lockout import forget_failures, take_attempt


def load_admin(session_id: str) -> Admin | None:
    admin_id, _, version = session_id.partition(":")
    admin_id, version = parse_id(admin_id), parse_int(version, minimum=0, maximum=MAX_ID)
    if admin_id is None or version is None:
        return None
    admin = db.session.get(Admin, admin_id)
    if admin is None or admin.disabled or admin.session_version != version:
        return None
    return admin


@login_manager.unauthorized_handler
def sign_in_again():
    """A console request without a (live) session: to sign-in, coming back to a page afterwards: for a
    form's submission the page that showed the form (its POST-only path would be a 405 after sign-in)."""
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(url_for("admin.login", next=form_page(url_for("admin.index"))))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        # Lower-casing can lengthen the text ("İ" is two characters); an address that long is nobody's.
        email = form.email.data.strip().lower()[:MAX_EMAIL_LENGTH]
        # Known and unknown e-mails take the same path: counted, then one hash check, then 401 or 429.
        if not take_attempt(email):
            audit.record("admin.login_locked", actor_type="admin", actor=email)
            db.session.commit()
            flash("Too many failed sign-ins. This account is locked for a few minutes; try again later.", "error")
            return render_template("admin/login.html", form=form), 429
        admin = db.session.scalar(select(Admin).where(func.lower(Admin.email) == email))
        if admin is None:
            burn_password_check(form.password.data)
        if admin is None or not admin.check_password(form.password.data):
            audit.record("admin.login_failed", actor_type="admin", actor=email)
            db.session.commit()
            flash("Email or password is wrong.", "error")
            return render_template("admin/login.html", form=form), 401
        forget_failures(email)
        admin.last_login_at = utcnow()
        session.clear()  # a new session: nothing from before sign-in (its CSRF token included) carries over
        renew_csrf_token()
        login_user(admin)
        audit.record("admin.login", actor_type="admin", actor=admin.email)
        db.session.commit()
        return redirect(safe_page(request.args.get("next"), url_for("admin.index")))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    # A new session version ends this session for good: a copy of its cookie no longer signs anyone in
    # (every other session of this admin ends too, as after a password change).
    current_user.session_version = (current_user.session_version or 0) + 1
    audit.record("admin.logout")
    db.session.commit()
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("admin.login"))
