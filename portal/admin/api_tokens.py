"""The API tokens page: every token with its scopes and use (never the secret), and revocation."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import login_required

from ..api_tokens import all_tokens, revoke
from ..extensions import db
from ..models import ApiToken
from . import bp


@bp.get("/api-tokens")
@login_required
def api_tokens():
    return render_template("admin/api_tokens.html", tokens=all_tokens())


@bp.post("/api-tokens/<id:token_id>/revoke")
@login_required
def api_token_revoke(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None:
        abort(404, "No such API token.")
    if revoke(token):
        db.session.commit()
        flash(f"API token {token.name} is revoked; requests with it are refused from now on.", "info")
    else:
        flash(f"API token {token.name} was already revoked.", "info")
    return redirect(url_for("admin.api_tokens")), 303
