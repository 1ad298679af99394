"""A refused SCIM request, answered with the status and ``scimType`` RFC 7644 gives it."""
from __future__ import annotations

from ..errors import scim_error
from . import bp


class ScimProblem(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


@bp.errorhandler(ScimProblem)
def _problem(exc: ScimProblem):
    return scim_error(exc.status, exc.detail, exc.scim_type)
