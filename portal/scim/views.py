"""What the Users and Groups endpoints share: listing with filter and paging, and committing a change."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .protocol import ScimProblem, list_response, page_arguments


def listing(search: Callable[[str | None], Select], order_by: Any,
            resources: Callable[[list[Any]], list[dict[str, Any]]]) -> Response:
    """``GET`` of a collection: filter in SQL, count, and one page (``startIndex``, ``count``)."""
    start, count = page_arguments()
    statement = search(request.args.get("filter"))
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = list(db.session.scalars(statement.order_by(order_by).offset(start - 1).limit(count))) if count else []
    return list_response(resources(rows), total, start)


def committed() -> None:
    """Commit the change; a concurrent write that took the same unique value is ``uniqueness`` (409)."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ScimProblem(409, "another resource took the same unique value", "uniqueness") from None
