"""The OpenAPI description of the declarations API (merged into ``openapi.document``)."""
from __future__ import annotations

from typing import Any, Callable

from ..declarations.reported import COUNTED
from .openapi_profiles import SCOPE

_PROBLEMS = {"type": "array", "items": {"type": "object", "properties": {
    "severity": {"type": "string", "enum": ["error", "warning"]}, "payload_type": {"type": ["string", "null"]},
    "key": {"type": ["string", "null"]}, "message": {"type": "string"}}}}
_COUNTS = {"type": "object", "properties": {name: {"type": "integer"} for name in COUNTED}}
_INPUT = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["payload"], "additionalProperties": False, "properties": {
        "type": {"type": "string", "description": "A declaration type, such as com.apple.configuration.account.mail "
                                                  "(required to create; a PUT keeps it)"},
        "identifier": {"type": "string", "description": "Optional; generated when left out, unchanged by a PUT"},
        "payload": {"type": "object", "description": "The declaration's Payload; $EMAIL and the profiles' other "
                                                     "variables are filled in per device"},
        "profile_id": {"type": "integer", "description": "com.apple.configuration.legacy only: the library profile "
                                                         "it delivers (the server writes ProfileURL)"},
        "app_id": {"type": ["integer", "null"],
                   "description": "com.apple.configuration.app.managed only: a catalogue app; the server writes its "
                                  "AppStoreID (with a user license) or ManifestURL, and an App Store app reaches a "
                                  "device once its person holds the license (a PUT without it keeps it)"},
        "data": {"type": "string", "contentEncoding": "base64",
                 "description": "com.apple.asset.data and com.apple.asset.credential.certificate: the bytes this "
                                "server serves to the devices that hold the asset (at most 1 MiB; it writes "
                                "Reference and Authentication MDM); a "
                                "certificate's must be one X.509 certificate, PEM or DER"},
        "credential": {"type": ["object", "null"],
                       "description": "com.apple.asset.credential.userpassword ({\"UserName\", \"Password\"}; "
                                      "$EMAIL... filled in the user name per device) and "
                                      "com.apple.asset.credential.identity ({\"Password\", \"Identity\": base64 "
                                      "PKCS #12}): stored encrypted, never returned, served by this server to the "
                                      "devices that hold the asset (it writes Reference and Authentication MDM); a "
                                      "PUT without it keeps the stored one, null removes it"}}}}}}
DECLARATION = {"type": "object", "required": ["id", "identifier", "server_token"], "properties": {
    "id": {"type": "integer"}, "type": {"type": "string"}, "identifier": {"type": "string"},
    "kind": {"type": "string", "enum": ["configuration", "asset", "activation", "management"]},
    "server_token": {"type": "string", "description": "Changes only when the content changes"},
    "payload": {"type": "object"}, "profile_id": {"type": ["integer", "null"]}, "app_id": {"type": ["integer", "null"]},
    "problems": _PROBLEMS,
    "user_enrollment": {"type": "string", "enum": ["allowed", "forbidden"]}, "counts": _COUNTS, "scope": SCOPE,
    "changed": {"type": "boolean"}}}
DEVICE_STATUS = {"type": "object", "required": ["device_id", "status", "active", "valid", "reasons"], "properties": {
    "device_id": {"type": "integer"},
    "status": {"type": "string", "enum": ["pending", "installed", "failed", "removing"]},
    "active": {"type": ["boolean", "null"]}, "valid": {"type": ["string", "null"], "enum": ["valid", "invalid", "unknown", None]},
    "reasons": {"type": ["array", "null"]}, "error": {"type": ["string", "null"]},
    "server_token": {"type": ["string", "null"], "description": "The version the device reported"},
    "current": {"type": ["boolean", "null"], "description": "Whether that is the version served now (else the device "
                "is pending: it fetches the new one); null while removing"},
    "updated_at": {"type": ["string", "null"]}}}


def declaration_paths(param: Callable, json: Callable, errors: Callable) -> dict[str, Any]:
    """The paths, built with ``openapi``'s helpers (``_param``, ``_json``, ``_errors``)."""
    declaration_id = param("declaration_id", "integer", "Declaration id", "path", True)
    paging = [param("cursor", "string", "The next value of the previous page"),
              param("limit", "integer", "1 to 500 (default 100)")]
    page = {"type": ["string", "null"]}
    return {
        "/declarations": {
            "post": {"summary": "Add a DDM declaration (profiles scope); 422 naming the key when the schema refuses it",
                     "operationId": "createDeclaration", "requestBody": _INPUT,
                     "responses": {"201": json(DECLARATION, "Saved"), **errors(400, 401, 403, 409, 422)}},
            "get": {"summary": "The declarations, with status counts", "operationId": "listDeclarations",
                    "parameters": paging,
                    "responses": {"200": json({"type": "object", "required": ["declarations", "next"], "properties": {
                        "declarations": {"type": "array", "items": DECLARATION}, "next": page}}, "A page"),
                        **errors(400, 401, 403)}}},
        "/declarations/{declaration_id}": {
            "get": {"summary": "A declaration with its scope and status counts", "operationId": "getDeclaration",
                    "parameters": [declaration_id],
                    "responses": {"200": json(DECLARATION, "The declaration"), **errors(401, 403, 404)}},
            "put": {"summary": "A new payload (same type and identifier); devices fetch it again only if it changed",
                    "operationId": "updateDeclaration", "parameters": [declaration_id], "requestBody": _INPUT,
                    "responses": {"200": json(DECLARATION, "Saved"), **errors(400, 401, 403, 404, 409, 422)}},
            "delete": {"summary": "Delete a declaration: devices drop it at their next sync (409 while another names it)",
                       "operationId": "deleteDeclaration", "parameters": [declaration_id],
                       "responses": {"200": json({"type": "object"}, "Deleted"), **errors(401, 403, 404, 409)}}},
        "/declarations/{declaration_id}/scope": {"put": {
            "summary": "Set the scope; 422 naming the type or key when User Enrollment does not allow it",
            "operationId": "setDeclarationScope", "parameters": [declaration_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": SCOPE}}},
            "responses": {"200": json({"type": "object", "required": ["devices_added", "devices_removed"], "properties": {
                "devices_added": {"type": "integer"}, "devices_removed": {"type": "integer"}}}, "Saved"),
                **errors(400, 401, 403, 404, 422)}}},
        "/declarations/{declaration_id}/status": {"get": {
            "summary": "Per device of its set, and each device removing it: active, valid and the device's reasons",
            "operationId": "getDeclarationStatus",
            "parameters": [declaration_id, *paging],
            "responses": {"200": json({"type": "object", "required": ["counts", "devices", "next"], "properties": {
                "counts": _COUNTS, "devices": {"type": "array", "items": DEVICE_STATUS}, "next": page}}, "Status"),
                **errors(400, 401, 403, 404)}}},
    }
