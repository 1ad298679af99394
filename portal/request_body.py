"""Reading a request body under a limit, whether it came with a length or chunked."""
from __future__ import annotations

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request


def bounded_body(request: Request, limit: int | None) -> bytes | None:
    """The body, or None when it is longer than ``limit`` bytes (None: no limit).

    A chunked body has no length to refuse it by, and Werkzeug's stream ends quietly at the limit,
    so one byte more than the limit is read: a body that long is refused whole (413), not cut and
    then refused as malformed (400). Never more than ``limit + 1`` bytes are read."""
    if limit is not None:
        request.max_content_length = limit + 1
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return None
    if limit is not None and len(body) > limit:
        return None
    return body
