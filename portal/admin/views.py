"""The console's pages."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from ..audit_search import AuditQueryError, parse_audit_query, run_audit_query
from ..extensions import db
from ..inventory import settings as inventory_settings
from ..migration.state import counts as migration_counts
from ..private_pages import keep_private
from . import bp
from .dashboard import figures


keep_private(bp)


@bp.get("/")
@login_required
def index():
    return render_template("admin/index.html", settings=inventory_settings.current(), migration=migration_counts(),
                           **figures())


@bp.post("/inventory-settings")
@login_required
def inventory_settings_update():
    try:
        changes = {key: int(request.form[key]) for key in inventory_settings.LIMITS if request.form.get(key)}
        inventory_settings.update(changes)
    except (ValueError, inventory_settings.InventorySettingsError) as exc:
        db.session.rollback()
        message = str(exc) if isinstance(exc, inventory_settings.InventorySettingsError) else "Enter whole numbers."
        flash(message, "error")
    else:
        flash("Inventory settings saved.", "info")
    return redirect(url_for("admin.index")), 303


@bp.get("/audit")
@login_required
def audit_log():
    try:
        query = parse_audit_query(request.args, default_limit=100)
    except AuditQueryError as exc:
        flash(str(exc), "error")
        query = parse_audit_query({})
    events, next_cursor = run_audit_query(db.session, query)
    return render_template("admin/audit.html", events=events, next_cursor=next_cursor, args=request.args)
