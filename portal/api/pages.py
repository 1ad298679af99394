"""Page arguments of the API's lists paged by id, refused with a 400 that says which one is wrong."""
from __future__ import annotations

from flask import abort, request

from ..errors import api_error
from ..paging import id_cursor, page_limit


class _BadPage(ValueError):
    pass


def id_page(default: int = 100) -> tuple[int, int | None]:
    """``(limit, after)`` from ``limit`` and ``cursor``; aborts with 400 when either is not one we accept."""
    try:
        return page_limit(request.args, default, _BadPage), id_cursor(request.args, _BadPage)
    except _BadPage as exc:
        abort(api_error(400, "bad_request", str(exc)))
