"""Device list, device page, remote commands (one device or bulk) and un-enrollment."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import audit
from ..apps.service import device_apps
from ..device_reports import command_result, is_stale
from ..extensions import db
from ..inventory.disclosure import COMMAND_DESCRIPTIONS, holdings
from ..inventory.query import (SEARCH_PARAMETERS, DeviceQueryError, count_statement, ids_statement, parse_query,
                               run_page)
from ..inventory.sweep import stale_after
from ..models import BulkCommand, Device
from ..models.device import DeviceStatus
from ..paging import id_cursor, page_limit
from ..remote_commands import (BULK_MAX_DEVICES, CommandRefused, bulk_progress, bulk_results, send, send_bulk,
                               unenroll_command)
from . import bp
from ..ids import parse_id
from .command_forms import CommandFormError, command_from_form, offered_commands
from .profiles.library import PageError
from .profiles.status import device_profile_rows

PAGE_SIZE = 50
#: Commands a bulk action offers: no per-device parameters, so one form fits every device.
BULK_COMMANDS = ("DeviceInformation", "SecurityInfo", "ManagedApplicationList", "InstalledApplicationList",
                 "ProfileList", "CertificateList")


def _actor() -> str:
    return current_user.email


@bp.get("/devices")
@login_required
def devices():
    try:
        query = parse_query(request.args, default_limit=PAGE_SIZE, default_sort="-id")
    except DeviceQueryError as exc:
        flash(str(exc), "error")
        query = parse_query({}, default_limit=PAGE_SIZE, default_sort="-id")
    stale = stale_after()
    page = run_page(db.session, query, stale)
    total = db.session.scalar(count_statement(query, stale))
    return render_template("admin/devices.html", query=query, page=page, total=total, stale=stale,
                           is_stale=is_stale, bulk_commands=BULK_COMMANDS)


@bp.get("/devices/<id:device_id>")
@login_required
def device(device_id: int):
    device = db.session.get(Device, device_id) or abort(404)
    held = holdings(device)
    results = {c.id: command_result(c) for c in held.commands[:10]}
    enrolled = device.status == DeviceStatus.ENROLLED
    return render_template("admin/device.html", device=device, held=held, results=results,
                           offered=offered_commands(device.enrollment_type) if enrolled else [],
                           stale=is_stale(device, stale_after()), descriptions=COMMAND_DESCRIPTIONS,
                           unenroll_identifier=unenroll_command()["Identifier"],
                           profile_rows=device_profile_rows(db.session, device.id),
                           org_apps=device_apps(db.session, [device.id]))


@bp.post("/devices/<id:device_id>/commands")
@login_required
def send_command(device_id: int):
    device = db.session.get(Device, device_id) or abort(404)
    request_type = request.form.get("request_type", "")
    try:
        command = command_from_form(request_type, device.enrollment_type, request.form, request.files)
        row = send(device, command, created_by=_actor())
    except (CommandFormError, CommandRefused) as exc:
        db.session.rollback()
        audit.record("command.refused", target_type="device", target_id=device.id,
                     detail={"request_type": request_type[:80], "reason": str(exc)[:500]})
        db.session.commit()
        flash(f"{request_type} was not sent: {exc}", "error")
        return redirect(url_for("admin.device", device_id=device.id)), 303
    db.session.commit()
    flash(f"{request_type} queued ({row.command_uuid}); the device runs it at its next connection.", "info")
    return redirect(url_for("admin.device", device_id=device.id)), 303


@bp.post("/devices/<id:device_id>/unenroll")
@login_required
def unenroll(device_id: int):
    device = db.session.get(Device, device_id) or abort(404)
    if request.form.get("confirm") != "yes":
        flash("Tick the confirmation box to remove this enrollment.", "error")
        return redirect(url_for("admin.device", device_id=device.id)), 303
    try:
        row = send(device, unenroll_command(), created_by=_actor())
    except CommandRefused as exc:
        db.session.rollback()
        flash(f"Could not un-enroll: {exc}", "error")
        return redirect(url_for("admin.device", device_id=device.id)), 303
    audit.record("device.unenroll_requested", target_type="device", target_id=device.id,
                 detail={"command_uuid": row.command_uuid})
    db.session.commit()
    flash("Un-enrollment queued: the device removes its management profile at its next connection.", "info")
    return redirect(url_for("admin.device", device_id=device.id)), 303


@bp.post("/devices/bulk")
@login_required
def bulk_command():
    request_type = request.form.get("request_type", "")
    if request_type not in BULK_COMMANDS:
        flash("Choose one of the offered commands.", "error")
        return redirect(url_for("admin.devices")), 303
    if request.form.get("scope") == "search":
        try:
            query = parse_query({k: v for k, v in request.form.items() if k in SEARCH_PARAMETERS})
        except DeviceQueryError as exc:
            flash(str(exc), "error")
            return redirect(url_for("admin.devices")), 303
        device_ids = list(db.session.scalars(ids_statement(query, stale_after()).limit(BULK_MAX_DEVICES)))
    else:
        device_ids = [i for i in map(parse_id, request.form.getlist("device_id")) if i is not None]
    if not device_ids:
        flash("Select at least one device.", "error")
        return redirect(url_for("admin.devices")), 303
    outcome = send_bulk(device_ids, lambda d: command_from_form(request_type, d.enrollment_type, {}, {}),
                        request_type, created_by=_actor())
    return redirect(url_for("admin.bulk", bulk_id=outcome.bulk.id)), 303


@bp.get("/bulk/<key:bulk_id>")
@login_required
def bulk(bulk_id: str):
    """The counts of a bulk command's results and one page of them by device (it may reach 10,000 devices)."""
    bulk = db.session.get(BulkCommand, bulk_id) or abort(404)
    try:
        limit, after = page_limit(request.args, PAGE_SIZE, PageError), id_cursor(request.args, PageError)
    except PageError as exc:
        flash(str(exc), "error")
        limit, after = PAGE_SIZE, None
    items, next_cursor = bulk_results(bulk, limit, after)
    progress = bulk_progress(bulk)
    done = progress["acknowledged"] + progress["error"]
    return render_template("admin/bulk.html", bulk=bulk, items=items, progress=progress, done=done,
                           total=bulk.queued, next_cursor=next_cursor)
