"""The OpenAPI description of the profile library, scopes and groups (merged into ``openapi.document``)."""
from __future__ import annotations

from typing import Any, Callable

from ..models.profile import PROFILE_STATUSES
from ..scope.smart_groups import CRITERIA

_MOBILECONFIG = {"required": True, "content": {"application/x-apple-aspen-config": {"schema": {
    "type": "string", "contentMediaType": "application/x-apple-aspen-config"}}}}
_PROBLEMS = {"type": "array", "items": {"type": "object", "properties": {
    "severity": {"type": "string", "enum": ["error", "warning"]}, "payload_type": {"type": ["string", "null"]},
    "key": {"type": ["string", "null"]}, "message": {"type": "string"}}}}
_COUNTS = {"type": "object", "properties": {s: {"type": "integer"} for s in ("pending", "installed", "failed", "removing")}}
_TARGETS = {"groups": {"type": "array", "items": {"type": "string"}, "description": "Group names"},
            "users": {"type": "array", "items": {"type": "string"}, "description": "Managed Apple IDs"},
            "smart_groups": {"type": "array", "items": {"type": "integer"}, "description": "Smart group ids"}}
SCOPE = {"type": "object", "additionalProperties": False, "properties": {
    "all_user_enrolled": {"type": "boolean"}, **_TARGETS,
    "include_legacy": {"type": "boolean", "description": "Let the targets reach legacy device enrollments too"},
    "exclude": {"type": "object", "additionalProperties": False, "properties": _TARGETS}}}
PROFILE = {"type": "object", "required": ["id", "name", "identifier", "problems"], "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"},
    "identifier": {"type": "string", "description": "The top-level PayloadIdentifier, sent to devices exactly as "
                                                   "stored (variables and $$ are not filled in in identifiers)"},
    "revision": {"type": "string", "description": "SHA-256 of the profile's bytes"},
    "variables": {"type": "array", "items": {"type": "string"},
                  "description": "The variables each device's copy is filled in with (EMAIL, FULL_NAME...): a person's "
                                 "new value of one sends the profile again to their devices"},
    "source": {"type": "string"}, "user_enrollment": {"type": "string", "enum": ["allowed", "forbidden"]},
    "problems": _PROBLEMS, "counts": _COUNTS, "scope": SCOPE}}
STATE = {"type": "object", "required": ["device_id", "status", "error"], "properties": {
    "device_id": {"type": "integer"}, "status": {"type": "string", "enum": list(PROFILE_STATUSES)},
    "error": {"type": ["string", "null"]}, "operation": {"type": "string", "enum": ["install", "remove"]},
    "error_chain": {"type": ["array", "null"]}, "attempts": {"type": "integer"},
    "next_attempt_at": {"type": ["string", "null"]}}}
SMART_GROUP = {"type": "object", "required": ["id", "devices"], "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "devices": {"type": "integer"},
    "criteria": {"type": "object", "additionalProperties": False,
                 "properties": {name: {} for name in CRITERIA}}}}


def profile_paths(param: Callable, json: Callable, errors: Callable) -> dict[str, Any]:
    """The paths, built with ``openapi``'s helpers (``_param``, ``_json``, ``_errors``)."""
    profile_id = param("profile_id", "integer", "Profile id", "path", True)
    paging = [param("cursor", "string", "The next value of the previous page"),
              param("limit", "integer", "1 to 500 (default 100)")]
    page = {"type": ["string", "null"]}
    return {
        "/profiles": {
            "post": {"summary": "Upload a .mobileconfig to the library (profiles scope); 422 for an unknown variable",
                     "operationId": "createProfile", "requestBody": _MOBILECONFIG,
                     "parameters": [param("name", "string", "Name (default: PayloadDisplayName)")],
                     "responses": {"201": json(PROFILE, "Saved, with the checker's problems"),
                                   **errors(400, 401, 403, 409, 413, 422)}},
            "get": {"summary": "The library, with status counts", "operationId": "listProfiles", "parameters": paging,
                    "responses": {"200": json({"type": "object", "required": ["profiles", "next"], "properties": {
                        "profiles": {"type": "array", "items": PROFILE}, "next": page}}, "A page of profiles"),
                        **errors(400, 401, 403)}}},
        "/profiles/{profile_id}": {
            "get": {"summary": "A profile with its scope and status counts", "operationId": "getProfile",
                    "parameters": [profile_id], "responses": {"200": json(PROFILE, "The profile"),
                                                              **errors(401, 403, 404)}},
            "put": {"summary": "New bytes for a profile (same PayloadIdentifier, else 409); devices get it again once",
                    "operationId": "updateProfile", "parameters": [profile_id], "requestBody": _MOBILECONFIG,
                    "responses": {"200": json(PROFILE, "Saved"), **errors(400, 401, 403, 404, 409, 413, 422)}},
            "delete": {"summary": "Delete a profile: it is removed from every device that has it",
                       "operationId": "deleteProfile", "parameters": [profile_id],
                       "responses": {"200": json({"type": "object"}, "Deleted"), **errors(401, 403, 404)}}},
        "/profiles/{profile_id}/scope": {"put": {
            "summary": "Set the scope; 422 naming payload and key when the profile is not allowed where it reaches",
            "operationId": "setProfileScope", "parameters": [profile_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": SCOPE}}},
            "responses": {"200": json({"type": "object", "required": ["devices_added", "devices_removed"], "properties": {
                "devices_added": {"type": "integer"}, "devices_removed": {"type": "integer"}}}, "Saved"),
                **errors(400, 401, 403, 404, 422)}}},
        "/profiles/{profile_id}/status": {"get": {
            "summary": "Status counts and each device's state", "operationId": "getProfileStatus",
            "parameters": [profile_id, param("status", "string", "Only this status (default: all but removed)"),
                           *paging],
            "responses": {"200": json({"type": "object", "required": ["counts", "devices", "next"], "properties": {
                "counts": _COUNTS, "devices": {"type": "array", "items": STATE}, "next": page}}, "Status"),
                **errors(400, 401, 403, 404)}}},
        "/groups": {"get": {
            "summary": "Groups from sign-in (and directory sync) with their member counts", "operationId": "listGroups",
            "parameters": paging,
            "responses": {"200": json({"type": "object", "required": ["groups", "next"], "properties": {
                "groups": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"}, "source": {"type": "string"},
                    "members": {"type": "integer"}}}}, "next": page}}, "A page of groups"),
                **errors(400, 401, 403)}}},
        "/smart-groups": {"post": {
            "summary": "Save a device search over inventory (profiles scope)", "operationId": "createSmartGroup",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "criteria": SMART_GROUP["properties"]["criteria"]}}}}},
            "responses": {"201": json(SMART_GROUP, "Saved, with the devices it holds now"),
                          **errors(400, 401, 403, 422)}}},
        "/smart-groups/{group_id}": {"get": {
            "summary": "A smart group and how many devices it holds", "operationId": "getSmartGroup",
            "parameters": [param("group_id", "integer", "Smart group id", "path", True)],
            "responses": {"200": json(SMART_GROUP, "The smart group"), **errors(401, 403, 404)}}},
    }
