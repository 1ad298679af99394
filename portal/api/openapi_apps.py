"""The OpenAPI description of managed apps and the Apps and Books content token (merged into
``openapi.document``)."""
from __future__ import annotations

from typing import Any, Callable

from ..models.app import APP_STATUSES
from .openapi_profiles import SCOPE

_COUNTS = {"type": "object", "properties": {s: {"type": "integer"} for s in
                                            ("pending", "installed", "failed", "removing", "no_license")}}
_NULLABLE = {"type": ["string", "null"]}
TOKEN = {"type": "object", "required": ["organization", "expires_at"], "properties": {
    "organization": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"},
    "location": {"type": "object", "properties": {
        "name": _NULLABLE, "claimed": {"type": "boolean", "description": "Our clientContext is set on the location"},
        "other_server": {"type": ["string", "null"], "description": "The clientContext of another server"}}},
    "expired": {"type": "boolean", "description": "The service refused the token as expired"},
    "last_sync_at": _NULLABLE, "last_error": _NULLABLE}}
APP = {"type": "object", "required": ["id", "source"], "properties": {
    "id": {"type": "integer"}, "source": {"type": "string", "enum": ["vpp", "manifest"]}, "adam_id": _NULLABLE,
    "pricing_param": _NULLABLE, "manifest_url": _NULLABLE, "name": _NULLABLE, "bundle_id": _NULLABLE,
    "icon_url": _NULLABLE,
    "licenses": {"type": "object", "properties": {n: {"type": "integer"} for n in
                                                  ("total", "assigned", "available", "needed")}},
    "has_configuration": {"type": "boolean"}, "configuration": {"type": ["object", "null"]},
    "vpn_profile_id": {"type": ["integer", "null"]}, "remove_on_unenroll": {"type": "boolean"},
    "counts": _COUNTS, "scope": SCOPE}}
_CHANGES = {"type": "object", "additionalProperties": False, "properties": {
    "name": _NULLABLE, "bundle_id": _NULLABLE,
    "configuration": {"type": ["object", "string", "null"],
                      "description": "A JSON object of plist values, or the text of an XML plist <dict>; "
                                     "$EMAIL, $MANAGED_APPLE_ID, $FULL_NAME, $USERNAME, $ENROLLMENT_ID are filled per device"},
    "vpn_profile_id": {"type": ["integer", "null"],
                       "description": "A library profile with a com.apple.vpn.managed.applayer payload"}}}
_STATE = {"type": "object", "required": ["device_id", "status", "error"], "properties": {
    "device_id": {"type": "integer"}, "status": {"type": "string", "enum": list(APP_STATUSES)},
    "detail": {"type": "string"}, "error": _NULLABLE, "operation": {"type": "string", "enum": ["install", "remove"]},
    "attempts": {"type": "integer"}, "next_attempt_at": _NULLABLE}}


def app_paths(param: Callable, json: Callable, errors: Callable) -> dict[str, Any]:
    """The paths, built with ``openapi``'s helpers."""
    app_id = param("app_id", "integer", "App id", "path", True)
    paging = [param("cursor", "string", "The next value of the previous page"),
              param("limit", "integer", "1 to 500 (default 100)")]
    page = {"type": ["string", "null"]}
    return {
        "/vpp/token": {
            "post": {"summary": "Upload the location's content token (the .vpptoken file's content; apps scope); the "
                                "server claims the location unless another server has (take_over=true to replace it)",
                     "operationId": "uploadVppToken",
                     "parameters": [param("take_over", "boolean", "Replace another server's claim on the location")],
                     "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {
                         "type": "string"}}}},
                     "responses": {"200": json(TOKEN, "Stored (sealed)"), **errors(400, 401, 403, 413)}},
            "get": {"summary": "The content token's organisation, expiry and location", "operationId": "getVppToken",
                    "responses": {"200": json(TOKEN, "The token"), **errors(401, 403, 404)}}},
        "/vpp/sync": {"post": {
            "summary": "Sync the catalogue and licenses with the Apps and Books service now (apps scope)",
            "operationId": "syncVpp", "responses": {"200": json({"type": "object"}, "What was done"),
                                                    **errors(401, 403, 409)}}},
        "/apps": {
            "get": {"summary": "The catalogue, with license counts and device counts", "operationId": "listApps",
                    "parameters": paging,
                    "responses": {"200": json({"type": "object", "required": ["apps", "next"], "properties": {
                        "apps": {"type": "array", "items": APP}, "next": page}}, "A page of apps"),
                        **errors(400, 401, 403)}},
            "post": {"summary": "Add an App Store app ({adam_id}) or an in-house app ({manifest_url}) (apps scope)",
                     "operationId": "createApp",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "properties": {"adam_id": {"type": "string"},
                                                          "manifest_url": {"type": "string"},
                                                          **_CHANGES["properties"]}}}}},
                     "responses": {"201": json(APP, "Added"), **errors(400, 401, 403, 409, 422)}}},
        "/apps/{app_id}": {
            "get": {"summary": "An app with its configuration, scope and counts", "operationId": "getApp",
                    "parameters": [app_id], "responses": {"200": json(APP, "The app"), **errors(401, 403, 404)}},
            "patch": {"summary": "Change the configuration (sent with Settings to the devices that have the app), "
                                 "the per-app VPN, the name or the bundle ID (apps scope)",
                      "operationId": "updateApp", "parameters": [app_id],
                      "requestBody": {"required": True, "content": {"application/json": {"schema": _CHANGES}}},
                      "responses": {"200": json(APP, "Saved"), **errors(400, 401, 403, 404, 422)}},
            "delete": {"summary": "Remove the app from every device and release its licenses (apps scope)",
                       "operationId": "deleteApp", "parameters": [app_id],
                       "responses": {"200": json({"type": "object"}, "Deleted"), **errors(401, 403, 404)}}},
        "/apps/{app_id}/scope": {"put": {
            "summary": "Set the scope (apps scope)", "operationId": "setAppScope", "parameters": [app_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": SCOPE}}},
            "responses": {"200": json({"type": "object", "required": ["devices_added", "devices_removed"], "properties": {
                "devices_added": {"type": "integer"}, "devices_removed": {"type": "integer"}}}, "Saved"),
                **errors(400, 401, 403, 404, 422)}}},
        "/apps/{app_id}/status": {"get": {
            "summary": "Status counts (with no_license), licenses needed, and each device's state",
            "operationId": "getAppStatus",
            "parameters": [app_id, param("status", "string", "Only this status (default: all but removed)"), *paging],
            "responses": {"200": json({"type": "object", "required": ["counts", "devices", "next"], "properties": {
                "counts": _COUNTS, "licenses_needed": {"type": "integer"}, "devices": {"type": "array", "items": _STATE},
                "next": page}}, "Status"), **errors(400, 401, 403, 404)}}},
    }
