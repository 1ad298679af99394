"""The OpenAPI 3.1 description of this API, served at ``/api/v1/openapi.json`` without a token.

Hand-written so it says what the API promises (a test checks that every ``/api/v1`` route is
described and that the document is valid OpenAPI 3.1).
"""
from __future__ import annotations

from typing import Any

from flask import current_app

from ..i18n import LANGUAGES
from ..migration.state import STATES as MIGRATION_STATES
from . import bp
from .openapi_mail import mail_paths
from .openapi_declarations import declaration_paths
from .openapi_profiles import profile_paths
from .openapi_apps import app_paths

_ERROR = {"$ref": "#/components/responses/Error"}
_REPORTED_BY = {"type": "string", "enum": ["status", "command"],
                "description": "status: a DDM status report lists it and keeps it current; command: an inventory "
                               "command reported it"}
_DEVICE_LIST_PARAMS = [
    ("q", "string", "Search: user name or email, Managed Apple ID, model, OS version, device name"),
    ("enrollment_type", "string", "user or device"),
    ("method", "string", "profile_driven, account_driven, legacy or api"),
    ("status", "string", "pending, enrolled or unenrolled"),
    ("managed_apple_id", "string", "Exact Managed Apple ID"),
    ("flagged", "boolean", "Only devices not seen for the stale_after_days setting (true) or the others (false)"),
    ("seen_within_days", "integer", "Last check-in within this many days"),
    ("not_seen_for_days", "integer", "No check-in for at least this many days"),
    ("sort", "string", "id, last_seen_at, managed_apple_id, os_version or model; prefix - for descending"),
    ("cursor", "string", "The next value of the previous page"),
    ("limit", "integer", "Page size, 1 to 500 (default 100)"),
]


def _param(name: str, kind: str, description: str, where: str = "query", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description, "schema": {"type": kind}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _ERROR for code in codes}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def document() -> dict[str, Any]:
    device_id = _param("device_id", "integer", "Device id", "path", True)
    command_body = {"type": "object", "required": ["request_type"], "additionalProperties": True,
                    "properties": {"request_type": {"type": "string", "description": "The MDM RequestType"}},
                    "description": "The command keys beside request_type; <data> keys are base64 strings."}
    settings_schema = {"type": "object", "properties": {"inventory_interval_hours": {"type": "integer", "minimum": 1},
                                                         "stale_after_days": {"type": "integer", "minimum": 1}}}
    paths: dict[str, Any] = {
        "/devices": {"get": {
            "summary": "List, search, filter and sort devices (cursor pagination)", "operationId": "listDevices",
            "parameters": [_param(*p) for p in _DEVICE_LIST_PARAMS],
            "responses": {"200": _json({"type": "object", "required": ["devices", "next"], "properties": {
                "devices": {"type": "array", "items": _ref("Device")},
                "next": {"type": ["string", "null"]}}}, "A page of devices"), **_errors(400, 401, 403)}}},
        "/devices/{device_id}": {"get": {
            "summary": "A device with its inventory, apps, profiles, certificates and recent commands",
            "operationId": "getDevice", "parameters": [device_id],
            "responses": {"200": _json(_ref("DeviceDetail"), "The device"), **_errors(401, 403, 404)}}},
        "/devices/{device_id}/commands": {"post": {
            "summary": "Queue a command (refused with 422 when the enrollment type does not allow it)",
            "operationId": "queueCommand", "parameters": [device_id],
            "requestBody": {"required": True, "content": {"application/json": {"schema": command_body}}},
            "responses": {"201": _json(_ref("QueuedCommand"), "Queued"), **_errors(400, 401, 403, 404, 409, 422)}}},
        "/commands/{command_uuid}": {"get": {
            "summary": "A command's status and result", "operationId": "getCommand",
            "parameters": [_param("command_uuid", "string", "Command UUID", "path", True)],
            "responses": {"200": _json(_ref("Command"), "The command"), **_errors(401, 403, 404)}}},
        "/commands/bulk": {"post": {
            "summary": "Queue one command for a list of devices or every device matching a search "
                       "(commands scope; a search also needs read)",
            "operationId": "createBulkCommand",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "allOf": [command_body, {"type": "object", "properties": {
                    "device_ids": {"type": "array", "items": {"type": "integer"}},
                    "search": {"type": "object", "description": "Device-list parameters (q, enrollment_type, flagged, "
                               "...) as GET /devices takes them: strings, numbers or booleans; null is no filter"}}}]}}}},
            "responses": {"201": _json(_ref("BulkOutcome"), "Per-device results: 201 queued, 404, 409 or 422 refused"),
                          **_errors(400, 401, 403, 413, 422)}}},
        "/commands/bulk/{bulk_id}": {"get": {
            "summary": "Progress (counts by status) and one page of per-device results of a bulk command, by device "
                       "id, refused devices among them", "operationId": "getBulkCommand",
            "parameters": [_param("bulk_id", "string", "Bulk command id", "path", True),
                           _param("cursor", "string", "The next value of the previous page"),
                           _param("limit", "integer", "1 to 500 (default 500)")],
            "responses": {"200": _json(_ref("BulkProgress"), "Progress"), **_errors(400, 401, 403, 404)}}},
        "/enrollment-profiles": {"post": {
            "summary": "Mint a signed enrollment profile for a user", "operationId": "createEnrollmentProfile",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["enrollment_type", "managed_apple_id"], "properties": {
                    "enrollment_type": {"type": "string", "enum": ["user", "device"]},
                    "managed_apple_id": {"type": "string"}}}}}},
            "responses": {"201": {"description": "The signed profile", "content": {
                "application/x-apple-aspen-config": {"schema": {"type": "string", "contentMediaType": "application/pkcs7-mime"}}}},
                **_errors(400, 401, 403, 422)}}},
        "/profiles/check": {"post": {
            "summary": "Check a .mobileconfig (signed or not, XML or binary) against Apple's User Enrollment rules",
            "description": "Read as POST /profiles reads it, with the same problems (a signature that does not verify "
                           "is a warning; an encrypted profile is an error); 400 for what is not a profile, 413 past "
                           "1 MiB.",
            "operationId": "checkProfile",
            "parameters": [_param("enrollment_type", "string", "user (default) or device")],
            "requestBody": {"required": True, "content": {"application/x-apple-aspen-config": {"schema": {
                "type": "string", "contentMediaType": "application/x-apple-aspen-config"}}}},
            "responses": {"200": _json({"type": "object", "required": ["valid", "user_enrollment", "problems"], "properties": {
                "valid": {"type": "boolean"}, "signed": {"type": "boolean"},
                "user_enrollment": {"type": "string", "enum": ["allowed", "forbidden"]},
                "problems": {"type": "array", "items": {"type": "object", "properties": {
                    "severity": {"type": "string", "enum": ["error", "warning"]},
                    "payload_type": {"type": ["string", "null"]}, "key": {"type": ["string", "null"]},
                    "message": {"type": "string"}}}}}}, "The report"),
                **_errors(400, 401, 403, 413)}}},
        "/audit": {"get": {
            "summary": "The audit log, newest first (needs the audit scope)", "operationId": "listAuditEvents",
            "parameters": [_param("actor", "string", "Who (email, token:NAME, system actor)"),
                           _param("actor_type", "string", "admin, api, user, device or system"),
                           _param("action", "string", "Action or action prefix, e.g. command."),
                           _param("target_type", "string", "e.g. device"), _param("target_id", "string", "e.g. a device id"),
                           _param("since", "string", "ISO 8601, inclusive"), _param("until", "string", "ISO 8601, exclusive"),
                           _param("cursor", "string", "The next value of the previous page"),
                           _param("limit", "integer", "1 to 500 (default 100)")],
            "responses": {"200": _json({"type": "object", "required": ["events", "next"], "properties": {
                "events": {"type": "array", "items": _ref("AuditEvent")}, "next": {"type": ["string", "null"]}}},
                "A page of events"), **_errors(400, 401, 403)}}},
        "/settings/inventory": {
            "get": {"summary": "Inventory schedule and stale flag", "operationId": "getInventorySettings",
                    "responses": {"200": _json(settings_schema, "Settings"), **_errors(401, 403)}},
            "patch": {"summary": "Change inventory settings (partial, validated, audited)",
                      "operationId": "patchInventorySettings",
                      "requestBody": {"required": True, "content": {"application/json": {"schema": settings_schema}}},
                      "responses": {"200": _json(settings_schema, "Settings"), **_errors(400, 401, 403, 422)}}},
        "/settings/enrollment": {
            "get": {"summary": "Enrollment settings", "operationId": "getEnrollmentSettings",
                    "responses": {"200": _json(_ref("EnrollmentSettings"), "Settings"), **_errors(401, 403)}},
            "patch": {"summary": "Change enrollment settings (partial, validated, audited)",
                      "operationId": "patchEnrollmentSettings",
                      "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("EnrollmentSettings")}}},
                      "responses": {"200": _json(_ref("EnrollmentSettings"), "Settings"), **_errors(400, 401, 403, 422)}}},
        "/migration": {"get": {
            "summary": "Migration from legacy device enrollment: devices per state and a page of legacy devices "
                       "(read or migration scope)", "operationId": "getMigration",
            "parameters": [_param("state", "string", "One of " + ", ".join(MIGRATION_STATES)),
                           _param("user", "string", "Substring of the user's name, email or Managed Apple ID"),
                           _param("cursor", "string", "The next value of the previous page"),
                           _param("limit", "integer", "1 to 500 (default 100)")],
            "responses": {"200": _json({"type": "object", "required": ["counts", "devices", "next"], "properties": {
                "counts": {"type": "object", "required": list(MIGRATION_STATES),
                           "properties": {state: {"type": "integer"} for state in MIGRATION_STATES}},
                "stalled_after_days": {"type": "integer"},
                "devices": {"type": "array", "items": _ref("MigrationDevice")},
                "next": {"type": ["string", "null"]}}}, "Counts and a page of legacy devices"),
                **_errors(400, 401, 403)}}},
        "/migration/unenroll": {"post": {
            "summary": "Send the un-enrollment (RemoveProfile of the enrollment profile) to exactly these active legacy "
                       "device enrollments; all or nothing (migration scope)", "operationId": "migrationUnenroll",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["device_ids"],
                "properties": {"device_ids": {"type": "array", "minItems": 1, "items": {"type": "integer"}}}}}}},
            "responses": {"202": _json({"type": "object", "required": ["bulk_id", "queued", "devices"], "properties": {
                "bulk_id": {"type": "string"}, "queued": {"type": "integer"},
                "devices": {"type": "array", "items": {"type": "object", "properties": {
                    "device_id": {"type": "integer"}, "command_uuid": {"type": "string"}}}}}}, "Queued and pushed"),
                "422": _json(_ref("Error"), "Nothing sent; detail lists each refused id: "
                                            "[{device_id, reason}] (User Enrollments, unknown or inactive devices, "
                                            "un-enrollment already pending)"),
                **_errors(400, 401, 403, 413)}}},
        **profile_paths(_param, _json, _errors),
        **mail_paths(_json, _errors),
        **declaration_paths(_param, _json, _errors),
        "/pki/user-identity-ca": {"get": {
            "summary": "The user identity CA's certificate (it issues users' Wi-Fi, VPN and mail identities over SCEP), "
                       "for a RADIUS or VPN server to trust; public", "operationId": "getUserIdentityCA", "security": [],
            "parameters": [_param("format", "string", "pem (default) or der")],
            "responses": {"200": {"description": "The CA certificate", "content": {
                "application/x-pem-file": {"schema": {"type": "string"}},
                "application/pkix-cert": {"schema": {"type": "string", "contentMediaType": "application/pkix-cert"}}}},
                **_errors(400)}}},
        "/openapi.json": {"get": {"summary": "This document", "operationId": "getOpenApi", "security": [],
                                  "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")}}},
    }
    paths.update(app_paths(_param, _json, _errors))
    nullable_string = {"type": ["string", "null"]}
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "detail": {}}},
        "Device": {"type": "object", "required": ["id", "enrollment_type", "managed_apple_id", "enrolled", "last_seen_at",
                                                   "os_version", "model"], "properties": {
            "id": {"type": "integer"}, "enrollment_type": {"type": "string", "enum": ["user", "device"]},
            "enrollment_method": nullable_string, "enrollment_id": {"type": "string", "description": "User Enrollment only"},
            "udid": {"type": "string", "description": "Legacy device enrollment only"},
            "managed_apple_id": nullable_string, "enrolled": {"type": "boolean"}, "status": {"type": "string"},
            "flagged": {"type": "boolean", "description": "Not seen for stale_after_days"},
            "enrolled_at": nullable_string, "last_seen_at": nullable_string, "os_version": nullable_string,
            "build_version": nullable_string, "model": nullable_string, "model_name": nullable_string,
            "product_name": nullable_string, "device_name": nullable_string, "push": {"type": "object"}}},
        "DeviceDetail": {"allOf": [_ref("Device"), {"type": "object", "properties": {
            "inventory": {"type": "object", "description": "The last DeviceInformation and SecurityInfo answers; for a "
                          "device that sends DDM status reports, the OS version and build, product and model name "
                          "and passcode compliance of whichever was reported later", "properties": {
                              "facts": {"type": "object"}, "security": {"type": "object"},
                              "updated_at": nullable_string}},
            "apps": {"type": "array", "items": {"type": "object", "properties": {"reported_by": _REPORTED_BY}}},
            "profiles": {"type": "array", "items": {"type": "object"}},
            "certificates": {"type": "array", "items": {"type": "object", "properties": {"reported_by": _REPORTED_BY}}},
            "accounts": {"type": "array", "description": "Accounts a declaration installed, as DDM status reports "
                         "list them (account.list.*)", "items": {"type": "object", "properties": {
                             "account_type": {"type": "string", "description": "mail.incoming, exchange, caldav..."},
                             "declaration_identifier": {"type": "string"}, "visible_name": nullable_string,
                             "hostname": nullable_string, "port": {"type": ["integer", "null"]},
                             "username": nullable_string, "updated_at": nullable_string}}},
            "changes": {"type": "array", "items": {"type": "object"}},
            "commands": {"type": "array", "items": _ref("Command")},
            "desired_profiles": {"type": "array", "items": {"type": "object"},
                                 "description": "Each library profile's state on this device"}}}]},
        "QueuedCommand": {"type": "object", "required": ["command_uuid", "status"], "properties": {
            "command_uuid": {"type": "string"}, "status": {"type": "string"}}},
        "Command": {"type": "object", "required": ["command_uuid", "request_type", "status", "result"], "properties": {
            "command_uuid": {"type": "string"}, "device_id": {"type": "integer"}, "request_type": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "sent", "acknowledged", "error", "not_now"]},
            "created_at": nullable_string, "sent_at": nullable_string, "completed_at": nullable_string,
            "error_chain": {"type": ["array", "null"]}, "result": {"type": ["object", "null"]}}},
        "BulkOutcome": {"type": "object", "required": ["bulk_id", "results"], "properties": {
            "bulk_id": {"type": "string"}, "request_type": {"type": "string"}, "queued": {"type": "integer"},
            "refused": {"type": "integer"}, "results": {"type": "array", "items": {"type": "object", "properties": {
                "device_id": {"type": "integer"}, "status": {"type": "integer"}, "command_uuid": {"type": "string"},
                "error": {"type": "string"}}}}}},
        "BulkProgress": {"type": "object", "required": ["bulk_id", "progress", "results"], "properties": {
            "bulk_id": {"type": "string"}, "request_type": {"type": "string"},
            "progress": {"type": "object", "additionalProperties": {"type": "integer"}},
            "results": {"type": "array", "items": {"type": "object"}},
            "next": {"type": ["string", "null"], "description": "cursor of the next page of results, or null"}}},
        "EnrollmentSettings": {"type": "object", "properties": {
            "profile_driven_enabled": {"type": "boolean"}, "account_driven_enabled": {"type": "boolean"},
            "legacy_device_enrollment_enabled": {"type": "boolean"},
            "managed_domains": {"type": "array", "items": {"type": "string"}},
            "allowed_domains": {"type": "array", "items": {"type": "string"}},
            "allowed_groups": {"type": "array", "items": {"type": "string"}},
            "max_devices_per_user": {"type": ["integer", "null"]}, "organization_name": {"type": "string"},
            "privacy_disclosure": {"type": "string", "description": "Markdown"},
            "default_language": {"type": "string", "enum": list(LANGUAGES)},
            "privacy_disclosure_translations": {
                "type": "object", "propertyNames": {"enum": list(LANGUAGES)}, "additionalProperties": {"type": "string"},
                "description": "Markdown per shipped language; privacy_disclosure is the default language's"}}},
        "MigrationDevice": {"type": "object", "required": ["id", "state"], "properties": {
            "id": {"type": "integer"}, "udid": nullable_string, "managed_apple_id": nullable_string,
            "user_id": {"type": ["integer", "null"]}, "state": {"type": "string", "enum": list(MIGRATION_STATES)},
            "waiting_for": {"type": ["string", "null"], "enum": ["checkout", "re_enrollment", None],
                            "description": "For stalled devices: what has not happened"},
            "device_status": {"type": "string"}, "model": nullable_string, "os_version": nullable_string,
            "device_name": nullable_string, "last_seen_at": nullable_string, "notified_at": nullable_string,
            "notice_seen_at": nullable_string, "unenroll_sent_at": nullable_string,
            "unenroll_command": {"type": ["object", "null"]}, "unenrolled_at": nullable_string}},
        "AuditEvent": {"type": "object", "required": ["id", "at", "actor_type", "action"], "properties": {
            "id": {"type": "integer"}, "at": {"type": "string"}, "actor_type": {"type": "string"}, "actor": nullable_string,
            "action": {"type": "string"}, "target_type": nullable_string, "target_id": nullable_string,
            "detail": {"type": ["object", "null"]}, "remote_addr": nullable_string}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "BYOD MDM API", "version": "1",
                 "description": "Devices, commands, bulk commands, enrollment profiles, configuration profiles and "
                                "their scopes, groups, settings and the audit log. "
                                "Errors are JSON {error, detail}."},
        "servers": [{"url": f"{current_app.config['PUBLIC_URL']}/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "responses": {"Error": _json(_ref("Error"), "An error")}},
    }


@bp.get("/openapi.json")
def openapi_document():
    return document()
