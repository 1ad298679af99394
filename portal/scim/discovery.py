"""Discovery (RFC 7644 section 4): what this service provider supports, its resource types and schemas,
generated from the scim2-models classes the endpoints validate with."""
from __future__ import annotations

from functools import cache
from typing import Any

from scim2_models import (AuthenticationScheme, Bulk, ChangePassword, Context, EnterpriseUser, ETag, Filter,
                          Group, Patch, ResourceType, ServiceProviderConfig, Sort)

from .problems import ScimProblem
from .protocol import MAX_COUNT, answer, list_response
from .user_records import USER_MODEL

_DOCS = "https://github.com/byod-mdm/byod-mdm/blob/main/docs/scim.md"


@cache
def _service_provider_config() -> dict[str, Any]:
    config = ServiceProviderConfig(
        documentation_uri=_DOCS, patch=Patch(supported=True), bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT), change_password=ChangePassword(supported=False),
        sort=Sort(supported=False), etag=ETag(supported=False),
        authentication_schemes=[AuthenticationScheme(
            type="oauthbearertoken", name="Bearer token", primary=True,
            description="An API token with the 'scim' scope: flask --app wsgi create-api-token NAME --scope scim")])
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


@cache
def _resource_types() -> dict[str, dict[str, Any]]:
    types = (ResourceType.from_resource(USER_MODEL), ResourceType.from_resource(Group))
    return {t.id: t.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for t in types}


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    schemas = (USER_MODEL.to_schema(), Group.to_schema(), EnterpriseUser.to_schema())
    return {s.id: s.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for s in schemas}


def service_provider_config():
    return answer(_service_provider_config())


def resource_types():
    types = list(_resource_types().values())
    return list_response(types, len(types), 1)


def resource_type(name: str):
    return _one(_resource_types(), name, "resource type")


def schemas():
    found = list(_schemas().values())
    return list_response(found, len(found), 1)


def schema(schema_id: str):
    return _one(_schemas(), schema_id, "schema")


def _one(documents: dict[str, dict[str, Any]], key: str, what: str):
    if key not in documents:
        raise ScimProblem(404, f"no {what} '{key}'")
    return answer(documents[key])
