"""The forms directories send a User's ``manager`` in, read as RFC 7643 (section 4.3) writes it.

Entra ID's default mappings send the manager as the bare id of the manager's user (``"value": "<id>"`` on the
``...:enterprise:2.0:User:manager`` path, or as the extension's ``manager``), and directories send
``{"value": "<id>"}`` without the ``$ref`` scim2-models requires. Each becomes ``{"value": "<id>", "$ref": "<the
user's location>"}`` before the body is validated, so the user is not refused on every sync.
"""
from __future__ import annotations

from typing import Any

from .protocol import location

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_MANAGER_PATH = f"{ENTERPRISE}:manager".lower()


def resource(document: dict[str, Any]) -> dict[str, Any]:
    """A create or replace body with its enterprise extension's manager in the RFC's form."""
    return {key: _extension(value) if key.lower() == ENTERPRISE.lower() else value for key, value in document.items()}


def patch(document: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp whose operations write the manager in the RFC's form."""
    return {key: [_operation(op) for op in value] if key.lower() == "operations" and isinstance(value, list) else value
            for key, value in document.items()}


def _operation(operation: Any) -> Any:
    if not isinstance(operation, dict):
        return operation
    path, value = operation.get("path"), operation.get("value")
    if isinstance(path, str) and path.lower() == _MANAGER_PATH:
        return {**operation, "value": _manager(value)}
    if isinstance(path, str) and path.lower() == ENTERPRISE.lower():
        return {**operation, "value": _extension(value)}
    if path is None and isinstance(value, dict):
        return {**operation, "value": {key: _manager(item) if key.lower() == _MANAGER_PATH else item
                                       for key, item in resource(value).items()}}
    return operation


def _extension(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {key: _manager(item) if key.lower() == "manager" else item for key, item in value.items()}


def _manager(value: Any) -> Any:
    if isinstance(value, str) and value:
        value = {"value": value}
    if isinstance(value, dict) and isinstance(value.get("value"), str) and value["value"] and "$ref" not in value:
        value = {**value, "$ref": location("Users", value["value"])}
    return value
