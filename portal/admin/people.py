"""People and groups pages: who is in the directory, their state, groups and devices; offboarding by hand."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from .. import directory
from ..extensions import db
from ..ids import parse_int
from ..models import EndUser, Group
from ..offboarding import offboard, reactivate
from ..offboarding import status as offboarding_status
from ..search_text import searchable
from . import bp


def _page() -> int:
    return parse_int(request.args.get("page") or "1", minimum=1, maximum=1_000_000) or 1


def _query() -> str | None:
    q = (request.args.get("q") or "").strip()[:200]
    if q and not searchable(q):
        abort(400, "The search must not contain a NUL character or an unpaired surrogate.")
    return q or None


@bp.get("/people")
@login_required
def people():
    rows, total = directory.people(_query(), _page())
    return render_template("admin/people.html", rows=rows, total=total, page=_page(), q=_query() or "",
                           page_size=directory.PAGE_SIZE)


@bp.get("/people/<id:person_id>")
@login_required
def person(person_id: int):
    found = db.session.get(EndUser, person_id) or abort(404, "No such person.")
    return render_template("admin/person.html", person=found, row=directory.PersonRow(found, 0),
                           **directory.person_detail(found))


@bp.post("/people/<id:person_id>/offboard")
@login_required
def person_offboard(person_id: int):
    found = db.session.get(EndUser, person_id) or abort(404, "No such person.")
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm: offboarding removes the organisation's data from every device of this person.",
              "error")
        return redirect(url_for("admin.person", person_id=person_id)), 303
    offboard(db.session, found, "admin")
    db.session.commit()
    flash(f"{found.managed_apple_id} is offboarded: their devices are being retired and they can no longer sign in.",
          "info")
    return redirect(url_for("admin.person", person_id=person_id)), 303


@bp.post("/people/<id:person_id>/reactivate")
@login_required
def person_reactivate(person_id: int):
    found = db.session.get(EndUser, person_id) or abort(404, "No such person.")
    outcome = reactivate(db.session, found)
    db.session.commit()
    if outcome is None:
        flash(f"{found.managed_apple_id} was not offboarded.", "info")
    else:
        flash(f"{found.managed_apple_id} is active again: {outcome['cancelled']} retirement(s) cancelled before the "
              f"device fetched them; {outcome['already_sent']} already sent cannot be undone.", "info")
    return redirect(url_for("admin.person", person_id=person_id)), 303


@bp.get("/groups")
@login_required
def groups():
    rows, total = directory.groups(_query(), _page())
    return render_template("admin/groups.html", rows=rows, total=total, page=_page(), q=_query() or "",
                           page_size=directory.PAGE_SIZE)


@bp.get("/groups/<id:group_id>")
@login_required
def group(group_id: int):
    found = db.session.get(Group, group_id) or abort(404, "No such group.")
    members, total = directory.group_members(found, _page())
    return render_template("admin/group.html", group=found, members=members, total=total, page=_page(),
                           page_size=directory.PAGE_SIZE)


@bp.app_context_processor
def offboarding_alerts_processor():
    """``offboarding_alerts()`` for the dashboard: offboardings in progress and devices that have not answered."""
    return {"offboarding_alerts": lambda: {**offboarding_status.summary(), "overdue_devices": offboarding_status.overdue(),
                                           "alert_hours": offboarding_status.alert_after().total_seconds() // 3600}}
