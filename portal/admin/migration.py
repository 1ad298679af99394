"""The migration page: progress, the legacy devices by state, notify, un-enroll (confirmed) and history."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import audit
from ..extensions import db
from ..ids import parse_id
from ..migration.actions import MigrationRefused, history, mark_notified, send_unenrollment
from ..migration.state import (STATES, MigrationQuery, MigrationQueryError, counts, matching_ids, page, parse_query,
                               rows_for_devices, set_stalled_after_days, stalled_after)
from ..remote_commands import BULK_MAX_DEVICES
from ..settings_store import load_enrollment_settings
from . import bp

PAGE_SIZE = 50
#: States the "all matching devices" scope un-enrolls: active legacy enrollments with nothing pending.
UNENROLLABLE_STATES = ("legacy", "notified", "failed")
STATE_LABELS = {"legacy": "Legacy, nothing done", "notified": "Employee notified", "unenroll_sent": "Un-enrollment sent",
                "unenrolled": "Unenrolled, awaiting User Enrollment", "re_enrolled": "Re-enrolled with User Enrollment",
                "failed": "Removal failed", "stalled": "Stalled"}


def _query_from(values) -> MigrationQuery:
    try:
        return parse_query(values, default_limit=PAGE_SIZE)
    except MigrationQueryError as exc:
        flash(str(exc), "error")
        return parse_query({}, default_limit=PAGE_SIZE)


@bp.get("/migration")
@login_required
def migration():
    query = _query_from(request.args)
    rows, next_cursor = page(query)
    return render_template("admin/migration.html", counts=counts(), rows=rows, next_cursor=next_cursor, query=query,
                           states=STATES, labels=STATE_LABELS, stalled_days=stalled_after().days,
                           legacy_pages_enabled=load_enrollment_settings().legacy_device_enrollment_enabled)


def _selected_ids(action: str) -> list[int]:
    if request.form.get("scope") == "filter":
        query = _query_from({k: request.form.get(k, "") for k in ("state", "user")})
        return matching_ids(query, ("legacy",) if action == "notify" else UNENROLLABLE_STATES, BULK_MAX_DEVICES)
    return list(dict.fromkeys(i for i in map(parse_id, request.form.getlist("device_id")) if i is not None))


@bp.post("/migration/devices")
@login_required
def migration_action():
    action = request.form.get("action")
    if action not in ("notify", "unenroll"):
        abort(400)
    device_ids = _selected_ids(action)
    if not device_ids:
        flash("Select at least one legacy device.", "error")
        return redirect(url_for("admin.migration")), 303
    if action == "notify":
        changed = mark_notified(device_ids, actor=current_user.email)
        flash(f"{changed} device{'s' if changed != 1 else ''} marked as notified "
              "(devices already past the first step are left as they are).", "info")
        return redirect(url_for("admin.migration")), 303
    if request.form.get("confirm") != "yes":
        rows = rows_for_devices(device_ids[:PAGE_SIZE])
        return render_template("admin/migration_confirm.html", device_ids=device_ids, rows=rows, labels=STATE_LABELS,
                               form=request.form)
    try:
        bulk, sent = send_unenrollment(device_ids, actor=current_user.email)
    except MigrationRefused as exc:
        db.session.rollback()
        flash(f"Nothing was sent. {exc}", "error")
        return redirect(url_for("admin.migration")), 303
    flash(f"Un-enrollment queued for {len(sent)} device{'s' if len(sent) != 1 else ''}; each device removes its "
          "legacy management profile at its next connection.", "info")
    return redirect(url_for("admin.bulk", bulk_id=bulk.id)), 303


@bp.get("/migration/<id:device_id>")
@login_required
def migration_device(device_id: int):
    rows = rows_for_devices([device_id])
    if not rows:
        abort(404)
    row = rows[0]
    return render_template("admin/migration_device.html", row=row, events=history(row), labels=STATE_LABELS)


@bp.post("/migration/settings")
@login_required
def migration_settings():
    try:
        days = set_stalled_after_days(int(request.form.get("stalled_after_days", "")))
    except (ValueError, MigrationQueryError) as exc:
        db.session.rollback()
        flash(str(exc) if isinstance(exc, MigrationQueryError) else "Enter a whole number of days.", "error")
        return redirect(url_for("admin.migration")), 303
    audit.record("settings.changed", target_type="settings", target_id="migration",
                 detail={"stalled_after_days": days})
    db.session.commit()
    flash(f"A device now counts as stalled after {days} days without progress.", "info")
    return redirect(url_for("admin.migration")), 303
