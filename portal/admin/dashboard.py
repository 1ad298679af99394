"""Dashboard figures: enrollments by type and method over time, OS versions, silent devices."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, case, func, or_, select

from ..charts import bar_chart, line_chart
from ..extensions import db
from ..inventory.sweep import stale_after
from ..models import Device
from ..models.base import utcnow
from ..models.device import DeviceStatus

WEEKS = 12
TYPE_LABELS = {"user": "User Enrollment", "device": "Legacy device enrollment"}


def enrolled_over_time(now=None) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """Devices enrolled at the end of each of the last WEEKS weeks, per enrollment type (one query)."""
    now = now or utcnow()
    ends = [now - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    columns = [func.sum(case((and_(Device.enrolled_at <= end,
                                   or_(Device.unenrolled_at.is_(None), Device.unenrolled_at > end)), 1), else_=0))
               for end in ends]
    rows = db.session.execute(select(Device.enrollment_type, *columns).group_by(Device.enrollment_type)).all()
    series = [(TYPE_LABELS.get(row[0], row[0]), [int(v or 0) for v in row[1:]]) for row in rows]
    return [end.strftime("%d %b") for end in ends], series


def figures() -> dict:
    enrolled = Device.status == DeviceStatus.ENROLLED
    by_type_method = db.session.execute(
        select(Device.enrollment_type, Device.enrollment_method, func.count()).where(enrolled)
        .group_by(Device.enrollment_type, Device.enrollment_method).order_by(func.count().desc())).all()
    os_versions = db.session.execute(
        select(Device.os_version, func.count()).where(enrolled).group_by(Device.os_version)
        .order_by(func.count().desc()).limit(10)).all()
    stale = stale_after()
    silent = db.session.scalar(select(func.count()).select_from(Device)
                               .where(enrolled, Device.last_seen_at < utcnow() - stale))
    counts = {}
    for enrollment_type, _method, count in by_type_method:
        counts[enrollment_type] = counts.get(enrollment_type, 0) + count
    labels, series = enrolled_over_time()
    return {
        "counts": counts,
        "silent": silent,
        "stale_days": stale.days,
        "by_type_method_chart": bar_chart([(f"{'UE' if t == 'user' else 'Device'} · {m}", c)
                                           for t, m, c in by_type_method], "Enrolled devices by type and method"),
        "os_chart": bar_chart([(v or "unknown", c) for v, c in os_versions], "Enrolled devices by iOS version"),
        "over_time_chart": line_chart(labels, series, f"Enrolled devices over the last {WEEKS} weeks"),
    }
