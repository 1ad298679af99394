"""The campaign on the migration page: notice e-mails, import from CSV, export, grace period and reminders."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required

from .. import audit
from ..extensions import db
from ..ids import parse_id
from ..migration import campaign
from ..migration.export import export_csv
from ..migration.notices import NOTIFIABLE_STATES, notify
from ..migration.paper import MAX_BYTES, ImportRefused, import_legacy_devices
from ..migration.state import MigrationQueryError, matching_ids, parse_query
from ..models.device import DeviceStatus
from ..models.legacy_import import IMPORTED
from ..remote_commands import BULK_MAX_DEVICES
from . import bp


def _selected() -> list[int]:
    if request.form.get("scope") == "filter":
        try:
            query = parse_query({k: request.form.get(k, "") for k in ("state", "user")})
        except MigrationQueryError:
            return []
        return matching_ids(query, NOTIFIABLE_STATES, BULK_MAX_DEVICES, statuses=(DeviceStatus.ENROLLED, IMPORTED))
    return list(dict.fromkeys(i for i in map(parse_id, request.form.getlist("device_id")) if i is not None))


@bp.post("/migration/mail")
@login_required
def migration_mail():
    device_ids = _selected()
    if not device_ids:
        flash("Select at least one legacy device.", "error")
        return redirect(url_for("admin.migration")), 303
    result = notify(device_ids, actor=current_user.email)
    flash(f"Notice e-mailed about {result.devices} device(s) to {result.emails} person(s); "
          f"{len(result.skipped)} skipped (told before, past that step, or without an address).", "info")
    return redirect(url_for("admin.migration")), 303


@bp.route("/migration/import", methods=["GET", "POST"])
@login_required
def migration_import():
    if request.method == "GET":
        return render_template("admin/migration_import.html", report=None, problem=None)
    upload = request.files.get("file")
    data = upload.read(MAX_BYTES + 1) if upload else b""
    try:
        if not data:
            raise ImportRefused("choose a CSV file")
        report = import_legacy_devices(data, actor=current_user.email)
    except ImportRefused as exc:
        db.session.rollback()
        return render_template("admin/migration_import.html", report=None, problem=str(exc)), 422
    return render_template("admin/migration_import.html", report=report, problem=None)


@bp.get("/migration/export.csv")
@login_required
def migration_export():
    audit.record("migration.exported", target_type="migration")
    db.session.commit()
    return Response(stream_with_context(export_csv()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="migration.csv"'})


@bp.post("/migration/campaign")
@login_required
def migration_campaign_settings():
    grace = request.form.get("grace_days", "").strip()
    reminders = [part.strip() for part in request.form.get("reminder_days", "").split(",") if part.strip()]
    try:
        if not all(part.isdigit() for part in reminders + ([grace] if grace else [])):
            raise ValueError("enter whole numbers of days")
        updated = campaign.validate({"grace_days": int(grace) if grace else None,
                                     "reminder_days": [int(part) for part in reminders]})
    except ValueError as exc:
        flash(f"Not saved: {exc}.", "error")
        return redirect(url_for("admin.migration")), 303
    campaign.save(updated)
    audit.record("settings.changed", target_type="settings", target_id="migration_campaign", detail=updated.to_json())
    db.session.commit()
    flash("Campaign schedule saved.", "info")
    return redirect(url_for("admin.migration")), 303


@bp.app_context_processor
def campaign_processor():
    """``migration_campaign()`` for the migration page's schedule form."""
    return {"migration_campaign": campaign.load}
