"""The Apps and Books pages: the content token (upload, the location's claim, take-over), the catalogue
with its license counts, adding an app, and "sync now". The same functions as the API do the work."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..apps import sync
from ..apps.catalogue import AppRejected, add_app
from ..apps.delivery import deliver_all
from ..apps.licenses import licenses_needed
from ..apps.service import status_counts
from ..apps.tokens import TokenRejected, claim_now, current_token, save_token, token_alert
from ..extensions import db
from ..models import App
from ..paging import id_cursor, page_limit
from . import bp
from .profiles.library import PAGE_SIZE, PageError

MAX_TOKEN_UPLOAD = 64 * 1024


@bp.app_context_processor
def apps_processor():
    """``apps_alert()`` for the dashboard (the content token's expiry, the location's claim)."""
    return {"apps_alert": lambda: token_alert(db.session)}


def _claim(row, take_over: bool) -> None:
    claim = claim_now(db.session, row, take_over=take_over)
    if claim is None:
        flash(f"The token is stored; the service could not be reached ({row.last_error}). The worker tries again.",
              "error")
    elif claim.claimed:
        flash("This server now manages the location.", "info")
    else:
        flash("Another server manages this location: confirm the take-over below to manage it here.", "error")


@bp.route("/apps/token", methods=["GET", "POST"])
@login_required
def apps_token():
    status = 200
    if request.method == "POST":
        upload = request.files.get("token")
        data = upload.read(MAX_TOKEN_UPLOAD + 1) if upload else request.form.get("token_text", "").encode()
        try:
            if not data or len(data) > MAX_TOKEN_UPLOAD:
                raise TokenRejected("choose the .vpptoken file from Apple Business Manager (at most 64 KiB)")
            row, _ = save_token(db.session, data, current_user.email)
        except TokenRejected as exc:
            db.session.rollback()
            flash(f"Refused: {exc}", "error")
            status = 400
        else:
            db.session.commit()
            flash(f"Content token of {row.organization} stored; it expires on {row.expires_at:%Y-%m-%d}.", "info")
            _claim(row, take_over=False)
            return redirect(url_for("admin.apps_token")), 303
    return render_template("admin/apps_token.html", token=current_token(db.session), alert=token_alert(db.session)), status


@bp.post("/apps/token/take-over")
@login_required
def apps_token_take_over():
    row = current_token(db.session)
    if row is None:
        flash("Upload a content token first.", "error")
    else:
        _claim(row, take_over=True)
    return redirect(url_for("admin.apps_token")), 303


@bp.post("/apps/sync")
@login_required
def apps_sync():
    if current_token(db.session) is None:
        flash("Upload the location's content token first.", "error")
        return redirect(url_for("admin.apps_token")), 303
    done = sync.run(db.session, sync_catalogue=True)
    if done.get("busy"):
        flash("Another sync is calling the Apps and Books service: its results show here when it ends.", "info")
        return redirect(url_for("admin.apps")), 303
    deliver_all(db.session)
    row = current_token(db.session)
    if row.last_error:
        flash(f"Sync incomplete: {row.last_error}", "error")
    else:
        flash(f"Synced: {done.get('assets', 0)} asset(s); {done.get('associated', 0)} license(s) assigned.", "info")
    return redirect(url_for("admin.apps")), 303


@bp.route("/apps", methods=["GET", "POST"])
@login_required
def apps():
    status = 200
    if request.method == "POST":
        form = request.form
        document = {key: form[key].strip() for key in ("adam_id", "manifest_url", "name", "bundle_id")
                    if form.get(key, "").strip()}
        if form.get("configuration", "").strip():
            document["configuration"] = form["configuration"]
        try:
            app = add_app(db.session, document, current_user.email)
        except AppRejected as exc:
            db.session.rollback()
            flash(f"Refused: {exc.detail}", "error")
            status = exc.status if exc.status in (400, 409, 422) else 400
        else:
            db.session.commit()
            flash(f"{app.name or app.adam_id or app.manifest_url} added to the catalogue.", "info")
            return redirect(url_for("admin.app_page", app_id=app.id)), 303
    catalogue, more = _catalogue_page()
    ids = [app.id for app in catalogue]
    return render_template("admin/apps.html", apps=catalogue, counts=status_counts(db.session, ids),
                           needed=licenses_needed(db.session, ids), token=current_token(db.session),
                           next_cursor=catalogue[-1].id if more else None), status


def _catalogue_page() -> tuple[list[App], bool]:
    """One page of the catalogue by id, as the profile library's and the API's, and whether more follow."""
    try:
        limit, after = page_limit(request.args, PAGE_SIZE, PageError), id_cursor(request.args, PageError)
    except PageError as exc:
        flash(str(exc), "error")
        limit, after = PAGE_SIZE, None
    statement = select(App).where(App.deleted_at.is_(None)).order_by(App.id).limit(limit + 1)
    catalogue = list(db.session.scalars(statement if after is None else statement.where(App.id > after)))
    return catalogue[:limit], len(catalogue) > limit
