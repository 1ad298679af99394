"""The console's pages."""
from flask import render_template
from flask_login import login_required
from sqlalchemy import func, select

from ..extensions import db
from ..models import Device
from . import bp


@bp.after_request
def private_headers(response):
    """Admin pages hold inventory; keep them out of every cache."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/")
@login_required
def index():
    rows = db.session.execute(
        select(Device.enrollment_type, func.count()).where(Device.status == "enrolled").group_by(Device.enrollment_type)
    ).all()
    counts = {enrollment_type: count for enrollment_type, count in rows}
    return render_template("admin/index.html", counts=counts)
