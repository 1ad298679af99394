"""An item's scope as a value: read from the API's JSON, stored as ``scope_targets`` rows, and back."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mdm_core.enrollment_profiles import EnrollmentProfileError, check_managed_apple_id

from ..models import ScopeTarget, SmartGroup
from .smart_groups import only_device_enrollments

MAX_TARGETS = 1000
_KEYS = ("all_user_enrolled", "groups", "users", "smart_groups", "include_legacy", "exclude")
_LISTS = ("groups", "users", "smart_groups")


class ScopeError(ValueError):
    """The scope document is not one we accept; ``status`` is 400 (its shape) or 422 (what it names)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Targets:
    """Groups by name, users by Managed Apple ID, smart groups by id."""

    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    smart_groups: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.groups or self.users or self.smart_groups)


@dataclass(frozen=True)
class Scope:
    all_user_enrolled: bool = False
    include: Targets = field(default_factory=Targets)
    exclude: Targets = field(default_factory=Targets)
    include_legacy: bool = False

    @property
    def empty(self) -> bool:
        return not (self.all_user_enrolled or self.include)

    def to_json(self) -> dict[str, Any]:
        return {"all_user_enrolled": self.all_user_enrolled, "include_legacy": self.include_legacy,
                **_targets_json(self.include),
                "exclude": _targets_json(self.exclude)}

    def reaches_user_enrollments(self, criteria: Mapping[int, Mapping[str, Any]]) -> bool:
        """Whether the scope can reach a user-enrolled device: unless empty, or made only of smart groups
        that hold legacy device enrollments alone."""
        if self.all_user_enrolled or self.include.groups or self.include.users:
            return True
        return any(not only_device_enrollments(criteria.get(group_id, {})) for group_id in self.include.smart_groups)


def _targets_json(targets: Targets) -> dict[str, list]:
    return {"groups": list(targets.groups), "users": list(targets.users), "smart_groups": list(targets.smart_groups)}


def parse_scope(document: Any) -> Scope:
    """The scope a ``PUT .../scope`` body describes (DESIGN section 6), or ScopeError."""
    if not isinstance(document, dict):
        raise ScopeError("send a JSON object: all_user_enrolled, groups, users, smart_groups, include_legacy, exclude")
    unknown = sorted(str(key) for key in document if key not in _KEYS)
    if unknown:
        raise ScopeError(f"unknown key(s) {', '.join(unknown)[:200]}; known: {', '.join(_KEYS)}")
    flags = {}
    for key in ("all_user_enrolled", "include_legacy"):
        value = document.get(key, False)
        if not isinstance(value, bool):
            raise ScopeError(f"{key} must be true or false")
        flags[key] = value
    exclude = document.get("exclude", {})
    if not isinstance(exclude, dict) or set(exclude) - set(_LISTS):
        raise ScopeError("exclude must be an object with groups, users and smart_groups")
    return Scope(include=_targets(document, ""), exclude=_targets(exclude, "exclude."), **flags)


def _targets(document: Mapping[str, Any], where: str) -> Targets:
    values = {}
    for key in _LISTS:
        items = document.get(key, [])
        if not isinstance(items, list) or len(items) > MAX_TARGETS:
            raise ScopeError(f"{where}{key} must be a list of at most {MAX_TARGETS} items")
        values[key] = tuple(dict.fromkeys(_item(key, item, where) for item in items))
    return Targets(**values)


def _item(key: str, item: Any, where: str) -> Any:
    if key == "smart_groups":
        if not isinstance(item, int) or isinstance(item, bool) or not 0 < item < 2**31:
            raise ScopeError(f"{where}smart_groups must hold smart group ids")
        return item
    if not isinstance(item, str) or not item.strip():
        raise ScopeError(f"{where}{key} must hold non-empty strings")
    if key == "groups":
        if len(item) > 255 or not item.isprintable():
            raise ScopeError(f"{where}groups: a group name has at most 255 printable characters")
        return item
    try:
        return check_managed_apple_id(item.strip().lower())  # kept lower-case, as sign-in and enrollment keep them
    except EnrollmentProfileError as exc:
        raise ScopeError(f"{where}users: {exc}") from None


def smart_group_criteria(session: Session, *scopes: Scope) -> dict[int, dict[str, Any]]:
    """The criteria of every smart group the scopes name, in one query (a reconciliation over many items
    reads them once); ScopeError (422) for an unknown one."""
    wanted = {group_id for scope in scopes for group_id in (*scope.include.smart_groups, *scope.exclude.smart_groups)}
    if not wanted:
        return {}
    found = dict(session.execute(select(SmartGroup.id, SmartGroup.criteria).where(SmartGroup.id.in_(wanted))).all())
    missing = sorted(wanted - set(found))
    if missing:
        raise ScopeError(f"no smart group {', '.join(map(str, missing))}", 422)
    return found


def load_scopes(session: Session, item_type: str, item_ids: list[int] | None = None) -> dict[int, Scope]:
    """The stored scope of each item of ``item_type`` (of ``item_ids``, or all) that has targets."""
    statement = select(ScopeTarget).where(ScopeTarget.item_type == item_type)
    if item_ids is not None:
        statement = statement.where(ScopeTarget.item_id.in_(item_ids))
    rows: dict[int, dict[str, Any]] = {}
    for target in session.scalars(statement.order_by(ScopeTarget.id)):
        parts = rows.setdefault(target.item_id, {"flags": set(), "in": {k: [] for k in _LISTS},
                                                 "out": {k: [] for k in _LISTS}})
        if target.kind in ("all_user_enrolled", "include_legacy"):
            parts["flags"].add(target.kind)
            continue
        key, value = {"group": ("groups", target.value), "user": ("users", target.value),
                      "smart_group": ("smart_groups", target.smart_group_id)}[target.kind]
        parts["out" if target.excluded else "in"][key].append(value)
    return {item_id: Scope(all_user_enrolled="all_user_enrolled" in parts["flags"],
                           include_legacy="include_legacy" in parts["flags"],
                           include=Targets(**{k: tuple(v) for k, v in parts["in"].items()}),
                           exclude=Targets(**{k: tuple(v) for k, v in parts["out"].items()}))
            for item_id, parts in rows.items()}


def save_scope(session: Session, item_type: str, item_id: int, scope: Scope) -> None:
    """Replace the item's targets with ``scope``'s; the caller commits."""
    session.execute(delete(ScopeTarget).where(ScopeTarget.item_type == item_type, ScopeTarget.item_id == item_id))
    rows = [{"kind": kind} for kind in ("all_user_enrolled", "include_legacy") if getattr(scope, kind)]
    for excluded, targets in ((False, scope.include), (True, scope.exclude)):
        rows += [{"kind": "group", "value": name, "excluded": excluded} for name in targets.groups]
        rows += [{"kind": "user", "value": user, "excluded": excluded} for user in targets.users]
        rows += [{"kind": "smart_group", "smart_group_id": group_id, "excluded": excluded}
                 for group_id in targets.smart_groups]
    if rows:
        session.execute(ScopeTarget.__table__.insert(), [
            {"item_type": item_type, "item_id": item_id, "value": None, "smart_group_id": None, "excluded": False,
             **row} for row in rows])
