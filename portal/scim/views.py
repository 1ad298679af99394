"""The Users and Groups endpoints: one set of routes per resource type over its records module (``find``,
``search``, ``resources``, ``create``, ``replace``, ``delete``) and its PATCH."""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .protocol import ScimProblem, answer, list_response, location, page_arguments, read_json


def register(bp: Blueprint, kind: str, records: ModuleType, order_by: Any, patch: Callable[[Any, dict], None],
             patch_answers_resource: bool) -> None:
    """``/<kind>`` (list with filter and paging, create) and ``/<kind>/<id>`` (read, replace, patch, delete)."""

    def one(resource: Any, status: int = 200) -> Response:
        body = records.resources([resource])[0]
        return answer(body, status, location(kind, body["id"]) if status == 201 else None)

    def listing() -> Response:
        start, count = page_arguments()
        statement = records.search(request.args.get("filter"))
        total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = list(db.session.scalars(statement.order_by(order_by).offset(start - 1).limit(count))) if count else []
        return list_response(records.resources(rows), total, start)

    def create() -> Response:
        resource = records.create(read_json())
        committed()
        return one(resource, 201)

    def read(scim_id: str) -> Response:
        return one(records.find(scim_id))

    def replace(scim_id: str) -> Response:
        resource = records.find(scim_id)
        records.replace(resource, read_json())
        committed()
        return one(resource)

    def modify(scim_id: str) -> Response | tuple[str, int]:
        resource = records.find(scim_id)
        patch(resource, read_json())
        committed()
        # RFC 7644 3.5.2: 204 unless the resource is wanted; a group's may list thousands of members
        return one(resource) if patch_answers_resource else ("", 204)

    def delete(scim_id: str) -> tuple[str, int]:
        records.delete(records.find(scim_id))
        committed()
        return "", 204

    name = kind.lower()
    bp.add_url_rule(f"/{kind}", f"list_{name}", listing, methods=["GET"])
    bp.add_url_rule(f"/{kind}", f"create_{name}", create, methods=["POST"])
    for view, method in ((read, "GET"), (replace, "PUT"), (modify, "PATCH"), (delete, "DELETE")):
        bp.add_url_rule(f"/{kind}/<scim_id>", f"{view.__name__}_{name}", view, methods=[method])


def committed() -> None:
    """Commit the change; a concurrent write that took the same unique value is ``uniqueness`` (409)."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ScimProblem(409, "another resource took the same unique value", "uniqueness") from None
