"""PATCH of a Group (RFC 7644 3.5.2) in the forms directories send, applied set-based.

Read here rather than by scim2-models' PatchOp: Entra ID removes members with ``{"op": "Remove", "path":
"members", "value": [{"value": "<id>"}]}``, which that model refuses (a remove carries no value in the RFC).
Ops are case-insensitive (Entra writes ``Add``/``Replace``/``Remove``); paths are parsed by scim2-models.
"""
from __future__ import annotations

from typing import Any

from scim2_models import Path
from scim2_models.path import ValuePath
from sqlalchemy import select

from ..extensions import db
from ..models import EndUser, Group, GroupMembership
from ..scope.groups import SCIM, add_members, remove_members
from . import group_records as records
from .filters import Stored, node_condition
from .problems import ScimProblem
from .protocol import check_operation_count

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_OPS = ("add", "remove", "replace")


def apply(group: Group, document: dict[str, Any]) -> None:
    """Apply every operation, then re-scope everyone it moved, once. The caller commits."""
    if PATCH_SCHEMA not in (document.get("schemas") or []):
        raise ScimProblem(400, f"a PATCH body names the schema {PATCH_SCHEMA}", "invalidSyntax")
    operations = document.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimProblem(400, "Operations must be a non-empty list", "invalidSyntax")
    check_operation_count(document)
    changed: set[int] = set()
    for operation in operations:
        changed |= _operation(group, operation)
    records.finish(group, "scim.group.patched", changed)


def _operation(group: Group, operation: Any) -> set[int]:
    if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
        raise ScimProblem(400, "each operation is an object with an 'op'", "invalidSyntax")
    op = operation["op"].lower()
    if op not in _OPS:
        raise ScimProblem(400, f"op must be add, remove or replace, not {operation['op']!r}", "invalidSyntax")
    value, path = operation.get("value"), operation.get("path")
    if path is None:
        if op == "remove":
            raise ScimProblem(400, "a remove operation needs a path", "noTarget")
        if not isinstance(value, dict):
            raise ScimProblem(400, "an operation without a path carries an object of attributes", "invalidValue")
        changed: set[int] = set()
        for attribute, attribute_value in value.items():
            changed |= _attribute(group, op, attribute.rsplit(":", 1)[-1].lower(), attribute_value)
        return changed
    if not isinstance(path, str):
        raise ScimProblem(400, "path must be a string", "invalidPath")
    try:
        parsed = Path(path)
    except Exception as exc:  # scim2-models' InvalidPathException
        raise ScimProblem(400, f"invalid path: {exc}", "invalidPath") from None
    node = parsed.ast
    if isinstance(node, ValuePath):
        if node.attr_path.attr.lower() != "members" or op != "remove" or node.sub_attr:
            raise ScimProblem(400, f"unsupported path '{path}': a filter selects members to remove", "invalidPath")
        return _remove_matching(group, node)
    if node.sub_attr:
        raise ScimProblem(400, f"'{path}' has no sub-attributes to change", "invalidPath")
    return _attribute(group, op, node.attr.lower(), value)


def _attribute(group: Group, op: str, attribute: str, value: Any) -> set[int]:
    if attribute == "members":
        return _members(group, op, value)
    if attribute == "displayname":
        if op == "remove":
            raise ScimProblem(400, "displayName is required", "mutability")
        records.rename(group, value)
    elif attribute == "externalid":
        records.set_external_id(group, None if op == "remove" else value)
    elif attribute not in ("id", "schemas", "meta"):
        raise ScimProblem(400, f"a Group has no attribute '{attribute}' to change", "noTarget")
    elif op != "replace" or value not in (group.scim_id, None):
        raise ScimProblem(400, f"'{attribute}' is read-only", "mutability")
    return set()


def _members(group: Group, op: str, value: Any) -> set[int]:
    if op == "remove" and value is None:
        return remove_members(db.session, group.id, None, SCIM)
    user_ids = records.resolve_members(_member_values(value), known_only=op == "remove")
    if op == "add":
        return add_members(db.session, group.id, user_ids, SCIM)
    if op == "remove":
        return remove_members(db.session, group.id, user_ids, SCIM)
    return records.replace_members(group, user_ids)


def _member_values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    values = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise ScimProblem(400, 'members are objects like {"value": "<user id>"}', "invalidValue")
        values.append(item["value"])
    return values


def _remove_matching(group: Group, node: ValuePath) -> set[int]:
    """``members[value eq "<id>"]``: the filter becomes SQL over the group's members."""
    matching = node_condition(node.val_filter, {"value": Stored(EndUser.scim_id), "display": EndUser.name})
    members = (select(GroupMembership.user_id).join(EndUser, EndUser.id == GroupMembership.user_id)
               .where(GroupMembership.group_id == group.id, GroupMembership.source == SCIM, matching))
    return remove_members(db.session, group.id, db.session.scalars(members).all(), SCIM)
