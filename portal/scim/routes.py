"""The routes of ``/scim/v2``, registered without importing the SCIM machinery: scim2-models (pydantic models
and a filter grammar) costs about a second of CPU, so a process loads it at its first SCIM request, not at
start-up (every gunicorn worker, every CLI command)."""
from __future__ import annotations

from importlib import import_module
from typing import Any, Callable

from . import bp
from .problems import ScimProblem

#: rule, method, ``module:attribute`` of the view in ``portal.scim``
ROUTES = (
    ("/ServiceProviderConfig", "GET", "discovery:service_provider_config"),
    ("/ResourceTypes", "GET", "discovery:resource_types"),
    ("/ResourceTypes/<name>", "GET", "discovery:resource_type"),
    ("/Schemas", "GET", "discovery:schemas"),
    ("/Schemas/<schema_id>", "GET", "discovery:schema"),
    *((f"/{kind}", method, f"resources:{kind.upper()}.{view}") for kind in ("Users", "Groups")
      for method, view in (("GET", "listing"), ("POST", "create"))),
    *((f"/{kind}/<scim_id>", method, f"resources:{kind.upper()}.{view}") for kind in ("Users", "Groups")
      for method, view in (("GET", "read"), ("PUT", "replace"), ("PATCH", "modify"), ("DELETE", "delete"))),
)


def _lazy(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")

    def view(**kwargs: Any) -> Any:
        from scim2_models import SCIMException

        found: Any = import_module(f"{__package__}.{module_name}")
        for name in attribute.split("."):
            found = getattr(found, name)
        try:
            return found(**kwargs)
        except SCIMException as exc:  # raised by the library's own checks (a PATCH path that resolves nowhere)
            raise ScimProblem(exc.status, str(exc), exc.scim_type or None) from None

    return view


for rule, method, target in ROUTES:
    bp.add_url_rule(rule, target.partition(":")[2].replace(".", "_").lower(), _lazy(target), methods=[method])
