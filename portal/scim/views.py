"""The Users and Groups endpoints: one set of views per resource type over its records module (``find``,
``search``, ``resources``, ``create``, ``replace``, ``delete``) and its PATCH (routes: ``portal.scim.routes``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from flask import Response, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .problems import ScimProblem
from .protocol import answer, list_response, location, page_arguments, read_json


@dataclass(frozen=True)
class ResourceEndpoints:
    kind: str  # Users, Groups
    records: ModuleType
    order_by: Any
    patch: Callable[[Any, dict], None]
    patch_answers_resource: bool  # RFC 7644 3.5.2: else 204; a group's answer may list thousands of members

    def _one(self, resource: Any, status: int = 200) -> Response:
        body = self.records.resources([resource])[0]
        return answer(body, status, location(self.kind, body["id"]) if status == 201 else None)

    def listing(self) -> Response:
        start, count = page_arguments()
        statement = self.records.search(request.args.get("filter"))
        total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = list(db.session.scalars(statement.order_by(self.order_by).offset(start - 1).limit(count))) if count else []
        return list_response(self.records.resources(rows), total, start)

    def create(self) -> Response:
        resource = self.records.create(read_json())
        committed()
        return self._one(resource, 201)

    def read(self, scim_id: str) -> Response:
        return self._one(self.records.find(scim_id))

    def replace(self, scim_id: str) -> Response:
        resource = self.records.find(scim_id)
        self.records.replace(resource, read_json())
        committed()
        return self._one(resource)

    def modify(self, scim_id: str) -> Response | tuple[str, int]:
        resource = self.records.find(scim_id)
        self.patch(resource, read_json())
        committed()
        return self._one(resource) if self.patch_answers_resource else ("", 204)

    def delete(self, scim_id: str) -> tuple[str, int]:
        self.records.delete(self.records.find(scim_id))
        committed()
        return "", 204


def committed() -> None:
    """Commit the change; a concurrent write that took the same unique value is ``uniqueness`` (409)."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ScimProblem(409, "another resource took the same unique value", "uniqueness") from None
