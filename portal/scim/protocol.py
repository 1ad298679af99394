"""What every SCIM answer shares: the media type, error bodies, bounded request bodies and paging."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Response, current_app, json, request
from pydantic import ValidationError
from scim2_models import Context

from mdm_core import bounded_json

from ..errors import SCIM_CONTENT_TYPE
from ..ids import parse_int
from ..request_body import bounded_body
from ..search_text import searchable, single_line
from .problems import ScimProblem

#: Largest page a list answers; a larger ``count`` is refused (``tooMany``) rather than cut silently.
MAX_COUNT = 1000
DEFAULT_COUNT = 100
MAX_POSITION = 2**31 - 1  # an offset every database takes
#: A group PUT carrying every member of a 10,000-person group is about 700 KB.
MAX_BODY = 2 * 1024 * 1024
#: Operations one PATCH may carry: applying one costs a query (Groups) or a validation of the whole resource
#: (Users, so their time grows with the square of the number), all inside the request's transaction.
MAX_OPERATIONS = 1000
#: The ids the records modules give resources (``str(uuid.uuid4())``).
_ISSUED_ID = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def answer(body: dict[str, Any], status: int = 200, location: str | None = None) -> Response:
    response = current_app.response_class(json.dumps(body), status=status, mimetype=SCIM_CONTENT_TYPE)
    if location:
        response.headers["Location"] = location
    return response


def read_json() -> dict[str, Any]:
    """The request's JSON object, read under MAX_BODY and walked under its size's budget."""
    body = bounded_body(request, MAX_BODY)
    if body is None:
        raise ScimProblem(413, f"the request body is larger than {MAX_BODY} bytes")
    try:
        document = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScimProblem(400, f"the body is not JSON: {exc}", "invalidSyntax") from None
    if not isinstance(document, dict):
        raise ScimProblem(400, "the body must be a JSON object", "invalidSyntax")
    if not _storable(document):
        raise ScimProblem(400, "text must not contain a NUL character or an unpaired surrogate", "invalidValue")
    return document


def _storable(value: Any) -> bool:
    """Every string (key or value) can be stored in every database; the walk is bounded by the body's size."""
    if isinstance(value, str):
        return searchable(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


def one_line(value: str | None, attribute: str, limit: int) -> str | None:
    """``value`` as a column stores it: at most ``limit`` characters (the column's length: a longer one is
    a database error on PostgreSQL), without control characters; else ``invalidValue``."""
    if value is None:
        return None
    if len(value) > limit:
        raise ScimProblem(400, f"{attribute} may be at most {limit} characters", "invalidValue")
    if not single_line(value):
        raise ScimProblem(400, f"{attribute} must not contain control characters", "invalidValue")
    return value


def validated(model: type, document: dict[str, Any], context: Context) -> Any:
    """``document`` as a scim2 model; an unknown attribute is ``invalidSyntax``, a bad value ``invalidValue``.

    A schema URN the body lists but writes no attribute under is left out: Entra ID lists its own
    (``http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group``) on every group."""
    schemas = document.get("schemas")
    if isinstance(schemas, list):
        document = {**document, "schemas": [s for s in schemas if isinstance(s, str) and (
            s.startswith("urn:ietf:params:scim:") or s in document)]}
    try:
        return model.model_validate(document, scim_ctx=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "body"
        scim_type = "invalidSyntax" if first.get("type") == "extra_forbidden" else "invalidValue"
        if first.get("type") == "extra_forbidden":
            message = f"unknown attribute '{where}'"
        else:
            message = f"{where}: {first.get('msg')}"
        raise ScimProblem(400, message, scim_type) from None


def check_operation_count(document: dict[str, Any]) -> None:
    """Refuse a PATCH of more than MAX_OPERATIONS operations (``tooMany``, RFC 7644 3.12) before any is read:
    the key is matched as scim2-models matches it, case-insensitively."""
    if any(key.lower() == "operations" and isinstance(value, list) and len(value) > MAX_OPERATIONS
           for key, value in document.items()):
        raise ScimProblem(400, f"at most {MAX_OPERATIONS} operations per PATCH", "tooMany")


def page_arguments() -> tuple[int, int]:
    """``startIndex`` (1-based; below 1 counts as 1, RFC 7644 3.4.2.4) and ``count`` (0..MAX_COUNT)."""
    start = _whole("startIndex", 1)
    count = _whole("count", DEFAULT_COUNT)
    if count > MAX_COUNT:
        raise ScimProblem(400, f"count may be at most {MAX_COUNT}", "tooMany")
    return max(start, 1), max(count, 0)


def _whole(name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None or text.strip() == "":
        return default
    number = parse_int(text.strip(), minimum=-MAX_POSITION, maximum=MAX_POSITION)
    if number is None:
        raise ScimProblem(400, f"{name} must be a whole number of at most {MAX_POSITION}", "invalidValue")
    return number


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> Response:
    return answer({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": total,
                   "startIndex": start, "itemsPerPage": len(resources), "Resources": resources})


def issued(scim_id: str) -> bool:
    """Whether ``scim_id`` has the shape of the ids this server gives: any other names no resource, and is not
    sent to the database (PostgreSQL refuses a NUL in text, which would answer 500 rather than 404)."""
    return _ISSUED_ID.fullmatch(scim_id) is not None


def location(kind: str, scim_id: str) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/scim/v2/{kind}/{scim_id}"


def meta(kind: str, scim_id: str, created: datetime, modified: datetime | None) -> dict[str, str]:
    """A resource's ``meta``: its type (``User`` for ``Users``), times and location."""
    return {"resourceType": kind[:-1], "created": _iso(created), "lastModified": _iso(modified or created),
            "location": location(kind, scim_id)}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def excluded(attribute: str) -> bool:
    """Whether the request leaves ``attribute`` out (``excludedAttributes``, or ``attributes`` without it)."""
    lowered = attribute.lower()
    excluded_names = {a.strip().lower() for a in request.args.get("excludedAttributes", "").split(",")}
    wanted = {a.strip().lower() for a in request.args.get("attributes", "").split(",") if a.strip()}
    return lowered in excluded_names or bool(wanted and lowered not in wanted)
