"""SCIM filters (RFC 7644 3.4.2.2), parsed by scim2-models, turned into SQL conditions.

Each resource type maps the attributes it can be searched by to a SQL expression; comparing any other
attribute is ``invalidFilter`` (400), never a scan in Python. Strings compare case-insensitively, as the
attributes mapped here are ``caseExact: false``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scim2_models import ScimFilter
from scim2_models.path import (AttrPath, Comparison, CompareOperator, FilterNode, FilterVisitor, LogicalExpr,
                               LogicalOperator, Not, Present, ValuePath)
from sqlalchemy import ColumnElement, and_, func, not_, or_, true

from ..search_text import searchable
from .problems import ScimProblem

@dataclass(frozen=True)
class Stored:
    """A column whose values are stored in the compared form (lower-cased, or case-exact): compared as it is,
    so its index serves an ``eq`` (``lower(column)`` would scan every row)."""

    column: ColumnElement
    case_exact: bool = False


#: An attribute maps to a column (a string compared case-insensitively), a ``Stored`` column, or a function
#: building the condition for an operator and value (booleans, attributes of another table).
Target = ColumnElement | Stored | Callable[[CompareOperator | None, Any], ColumnElement]
MAX_FILTER_LENGTH = 2000


def _key(path: AttrPath, prefix: str | None = None) -> str:
    names = [name for name in (prefix, path.attr, path.sub_attr) if name]
    return ".".join(names).lower()


class _SqlFilter(FilterVisitor[ColumnElement]):
    def __init__(self, attributes: Mapping[str, Target]) -> None:
        self.attributes = attributes
        self.prefix: str | None = None

    def _target(self, path: AttrPath) -> Target:
        key = _key(path, self.prefix)
        target = self.attributes.get(key)
        if target is None and "." not in key:
            target = self.attributes.get(f"{key}.value")  # ``emails eq "x"`` means the value sub-attribute
        if target is None:
            raise ScimProblem(400, f"cannot filter on '{key}'; filterable: {', '.join(sorted(self.attributes))}",
                              "invalidFilter")
        return target

    def visit_comparison(self, node: Comparison) -> ColumnElement:
        target = self._target(node.attr_path)
        if isinstance(target, Stored):
            return string_condition(target.column, node.op, node.value, stored=True, case_exact=target.case_exact)
        if callable(target) and not isinstance(target, ColumnElement):
            return target(node.op, node.value)
        return string_condition(target, node.op, node.value)

    def visit_present(self, node: Present) -> ColumnElement:
        target = self._target(node.attr_path)
        if isinstance(target, Stored):
            target = target.column
        elif callable(target) and not isinstance(target, ColumnElement):
            return target(None, None)
        return and_(target.is_not(None), target != "")

    def visit_not(self, node: Not) -> ColumnElement:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement:
        join = and_ if node.op == LogicalOperator.and_ else or_
        return join(*(self.visit(term) for term in node.terms))

    def visit_value_path(self, node: ValuePath) -> ColumnElement:
        outer, self.prefix = self.prefix, _key(node.attr_path)
        try:
            return self.visit(node.val_filter)
        finally:
            self.prefix = outer


def string_condition(column: ColumnElement, op: CompareOperator, value: Any, *, stored: bool = False,
                     case_exact: bool = False) -> ColumnElement:
    """``column op value``, case-insensitively unless ``case_exact``; ``stored``: the column already holds the
    compared form (no ``lower()`` on it)."""
    if value is None:
        return column.is_(None) if op == CompareOperator.eq else column.is_not(None)
    if not isinstance(value, str) or not searchable(value):
        raise ScimProblem(400, f"{value!r} is not a string every database can compare", "invalidFilter")
    lowered = column if stored else func.lower(column)
    text = value if case_exact else value.lower()
    conditions = {
        CompareOperator.eq: lambda: lowered == text,
        CompareOperator.ne: lambda: or_(column.is_(None), lowered != text),
        CompareOperator.co: lambda: lowered.contains(text, autoescape=True),
        CompareOperator.sw: lambda: lowered.startswith(text, autoescape=True),
        CompareOperator.ew: lambda: lowered.endswith(text, autoescape=True),
        CompareOperator.gt: lambda: lowered > text,
        CompareOperator.ge: lambda: lowered >= text,
        CompareOperator.lt: lambda: lowered < text,
        CompareOperator.le: lambda: lowered <= text,
    }
    return conditions[op]()


def boolean_condition(is_true: ColumnElement) -> Callable[[CompareOperator | None, Any], ColumnElement]:
    """A boolean attribute (``active``) whose truth is the SQL condition ``is_true``."""

    def condition(op: CompareOperator | None, value: Any) -> ColumnElement:
        if op is None:  # ``pr``: a boolean is always present
            return true()
        if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, bool):
            raise ScimProblem(400, "a boolean compares with eq or ne to true or false", "invalidFilter")
        return is_true if (value is True) == (op == CompareOperator.eq) else not_(is_true)

    return condition


def condition(text: str | None, model: type, attributes: Mapping[str, Target]) -> ColumnElement:
    """The SQL condition of the filter ``text`` (none: every row)."""
    if not text:
        return true()
    if len(text) > MAX_FILTER_LENGTH:
        raise ScimProblem(400, f"a filter may be at most {MAX_FILTER_LENGTH} characters", "invalidFilter")
    try:
        parsed = ScimFilter[model](text)
    except ScimProblem:
        raise
    except Exception as exc:  # scim2-models' InvalidFilterException, and any value it cannot read
        raise ScimProblem(400, f"invalid filter: {exc}", "invalidFilter") from None
    return node_condition(parsed.ast, attributes)


def node_condition(node: FilterNode, attributes: Mapping[str, Target]) -> ColumnElement:
    return _SqlFilter(attributes).visit(node)
