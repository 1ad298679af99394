"""The OpenAPI description of mail and the migration campaign (merged into ``openapi.document``)."""
from __future__ import annotations

from typing import Any, Callable

_IDS = {"type": "object", "required": ["device_ids"], "properties": {
    "device_ids": {"type": "array", "items": {"type": "integer"}}}}
_CAMPAIGN = {"type": "object", "properties": {
    "grace_days": {"type": ["integer", "null"], "description": "Days after the notice was delivered until the "
                   "un-enrollment is sent automatically; null: never"},
    "reminder_days": {"type": "array", "items": {"type": "integer"},
                      "description": "A reminder this many days after the notice was delivered (at most 5)"}}}
_REPORT = {"type": "object", "required": ["batch_id", "imported", "rejected"], "properties": {
    "batch_id": {"type": "string"}, "imported": {"type": "integer"},
    "rejected": {"type": "array", "items": {"type": "object", "properties": {
        "line": {"type": "integer"}, "udid": {"type": "string"}, "reason": {"type": "string"}}}}}}


def mail_paths(json: Callable, errors: Callable) -> dict[str, Any]:
    """The paths, built with ``openapi``'s helpers (``_json``, ``_errors``)."""
    def body(schema: dict, media: str = "application/json") -> dict:
        return {"required": True, "content": {media: {"schema": schema}}}

    return {
        "/mail/test": {"post": {
            "summary": "Queue one test message through the outbox (mail or settings scope)", "operationId": "mailTest",
            "requestBody": body({"type": "object", "required": ["to"], "properties": {"to": {"type": "string"}}}),
            "responses": {"202": json({"type": "object", "properties": {
                "queued": {"type": "boolean"}, "outbox_id": {"type": "integer"}, "to": {"type": "string"}}}, "Queued"),
                **errors(400, 401, 403, 422)}}},
        "/migration/notify": {"post": {
            "summary": "E-mail the notice to the owner of each legacy device (one message per person, in their "
                       "language); a device is told once, however often it is sent (migration scope)",
            "operationId": "migrationNotify", "requestBody": body(_IDS),
            "responses": {"202": json({"type": "object", "required": ["notified"], "properties": {
                "notified": {"type": "integer", "description": "Devices whose owner is told now"},
                "emails": {"type": "integer"}, "skipped": {"type": "array", "items": {"type": "object"}}}}, "Queued"),
                **errors(400, 401, 403, 413)}}},
        "/migration/import": {"post": {
            "summary": "Import legacy devices known only from a list: CSV with the columns udid, serial_number, "
                       "user_email, model; valid rows go in together, each rejected row is reported",
            "operationId": "migrationImport", "requestBody": body({"type": "string"}, "text/csv"),
            "responses": {"201": json(_REPORT, "Imported"), "200": json(_REPORT, "Nothing imported"),
                          **errors(401, 403, 413, 422)}}},
        "/migration/export": {"get": {
            "summary": "The campaign as CSV: every legacy device with its state and the time of each step",
            "operationId": "migrationExport",
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                          **errors(401, 403)}}},
        "/migration/campaign": {
            "get": {"summary": "Grace period and reminders", "operationId": "getMigrationCampaign",
                    "responses": {"200": json(_CAMPAIGN, "Settings"), **errors(401, 403)}},
            "patch": {"summary": "Change the grace period and reminders (partial, validated, audited)",
                      "operationId": "patchMigrationCampaign", "requestBody": body(_CAMPAIGN),
                      "responses": {"200": json(_CAMPAIGN, "Settings"), **errors(400, 401, 403, 422)}}},
    }
