"""Activation predicates: Apple's predicate format strings, read the way a phone reads them.

An activation's ``Predicate`` is an ``NSPredicate`` format string whose values come from
``@status(<status item>)`` and ``@property(<management property>)``. A phone that cannot parse one
reports the activation invalid (``Error.UnableToParsePredicate``), so the server parses it when an
admin saves it and names what is wrong; the simulator evaluates the same tree. The grammar is
Apple's (Predicate Programming Guide, "Predicate Format String Syntax"): comparisons with ``==``,
``!=``, ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN``, ``IN``, ``CONTAINS``, ``BEGINSWITH``,
``ENDSWITH``, ``LIKE``, ``MATCHES`` (``[cd]`` options), ``ANY``/``ALL``/``NONE`` qualifiers,
``AND``/``OR``/``NOT``, ``TRUEPREDICATE``/``FALSEPREDICATE``, literals, aggregates ``{...}``,
arithmetic and key paths. Reading is linear in the text (``MAX_LENGTH`` characters, ``MAX_TOKENS``
parts) and brackets nest at most ``MAX_DEPTH`` deep.
"""
from __future__ import annotations

import fnmatch
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 32
MAX_LENGTH = 4096
#: A predicate's parts (values, operators, brackets): its tree is at most this deep, evaluation recursion too.
MAX_TOKENS = 256
#: Where a predicate's values come from on a phone.
SOURCES = ("status", "property")

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<source>@(?:status|property)\s*\(\s*[A-Za-z0-9_][A-Za-z0-9_.:-]*\s*\))
  | (?P<variable>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<word>\#?[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z]+)*)
  | (?P<options>\[(?:c|d|n|cd|dc)\])
  | (?P<symbol>==|=>|=<|>=|<=|!=|<>|&&|\|\||\*\*|[=<>!(){},.:+\-*/\[\]])
""", re.VERBOSE)
_COMPARISONS = {"=": "==", "==": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", "=<": "<=", ">": ">",
                ">=": ">=", "=>": ">="}
_WORD_COMPARISONS = frozenset({"BETWEEN", "IN", "CONTAINS", "BEGINSWITH", "ENDSWITH", "LIKE", "MATCHES",
                               "UTI-CONFORMS-TO", "UTI-EQUALS"})
_LITERALS: Mapping[str, Any] = {"TRUE": True, "YES": True, "FALSE": False, "NO": False, "NULL": None, "NIL": None}
#: The nodes that are predicates (true or false), not values.
_PREDICATES = frozenset({"or", "and", "not", "compare", "constant"})
_RESERVED = frozenset({"AND", "OR", "NOT", "ANY", "ALL", "NONE", "SOME", "SELF", "FIRST", "LAST", "SIZE",
                       "TRUEPREDICATE", "FALSEPREDICATE", "SUBQUERY", "FUNCTION", *_WORD_COMPARISONS, *_LITERALS})


class PredicateError(ValueError):
    """What a phone would answer ``Error.UnableToParsePredicate`` to, and where."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[Token]:
    found, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise PredicateError(f"unexpected {text[at]!r} at character {at + 1}")
        if match.lastgroup != "space":
            found.append(Token(match.lastgroup, match.group(), at))
            if len(found) > MAX_TOKENS:
                raise PredicateError(f"more than {MAX_TOKENS} values and operators (at character {at + 1})")
        at = match.end()
    return found


class _Reader:
    """Recursive descent over the tokens; each rule returns a tree of tuples ``(kind, ...)``."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0

    def peek(self, *words: str) -> Token | None:
        token = self.tokens[self.at] if self.at < len(self.tokens) else None
        if token is None or not words:
            return token
        shown = token.text.upper() if token.kind == "word" else token.text
        return token if shown in words and token.kind in ("word", "symbol") else None

    def take(self, *words: str) -> Token:
        token = self.peek(*words)
        if token is None:
            self.fail(f"expected {' or '.join(words)}" if words else "expected a value")
        self.at += 1
        return token

    def fail(self, message: str):
        token = self.peek()
        where = f"at character {token.at + 1} ({token.text!r})" if token else "at its end"
        raise PredicateError(f"{message} {where}")

    def nested(self, rule: Callable[[], tuple]) -> tuple:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nested more than {MAX_DEPTH} levels")
        try:
            return rule()
        finally:
            self.depth -= 1

    def predicate(self, bracketed: bool = False) -> tuple:
        """A predicate; in brackets (``bracketed``) a value alone too, which ``comparison`` then compares."""
        return self.joined("or", ("OR", "||"), lambda: self.joined("and", ("AND", "&&"),
                                                                   lambda: self.negation(bracketed)))

    def joined(self, kind: str, words: tuple[str, ...], part: Callable[[], tuple]) -> tuple:
        """``part``s joined by ``words`` as one flat ``kind`` node (a part alone is itself); each joined part must
        be a predicate."""
        parts = [part()]
        while self.peek(*words):
            self.at += 1
            parts.append(self.truth(part()))
        return parts[0] if len(parts) == 1 else (kind, self.truth(parts[0]), *parts[1:])

    def negation(self, bracketed: bool) -> tuple:
        if self.peek("NOT", "!"):
            self.at += 1
            return ("not", self.truth(self.nested(lambda: self.negation(False))))
        return self.comparison(bracketed)

    def truth(self, node: tuple) -> tuple:
        """``node``, which must be a predicate: a value alone is neither true nor false."""
        if node[0] not in _PREDICATES:
            self.fail("expected a comparison before")
        return node

    def comparison(self, bracketed: bool) -> tuple:
        """A comparison, or a predicate on its own (in brackets, or a constant); one pass, no going back."""
        qualifier = self.take().text.upper() if self.peek("ANY", "SOME", "ALL", "NONE") else None
        left = self.expression()
        token = self.peek()
        name = None if token is None else (
            _COMPARISONS.get(token.text) if token.kind == "symbol" else token.text.upper())
        if name not in _COMPARISONS.values() and name not in _WORD_COMPARISONS:
            if qualifier is None and (left[0] in _PREDICATES or bracketed):
                return left
            self.fail("expected a comparison operator")
        if left[0] in _PREDICATES:
            self.fail("a predicate cannot be compared")
        self.at += 1
        options = self.take().text[1:-1] if self.peek() and self.peek().kind == "options" else ""
        right = self.expression()
        if right[0] in _PREDICATES:
            self.at -= 1
            self.fail("a predicate cannot be compared")
        return ("compare", qualifier, name, options, left, right)

    def expression(self) -> tuple:
        left = self.term()
        while self.peek("+", "-"):
            left = ("arithmetic", self.take().text, self.value(left), self.value(self.term()))
        return left

    def term(self) -> tuple:
        left = self.power()
        while self.peek("*", "/"):
            left = ("arithmetic", self.take().text, self.value(left), self.value(self.power()))
        return left

    def power(self) -> tuple:
        base = self.unary()
        if self.peek("**"):
            self.at += 1
            return ("arithmetic", "**", self.value(base), self.value(self.nested(self.power)))
        return base

    def unary(self) -> tuple:
        if self.peek("-"):
            self.at += 1
            return ("arithmetic", "-", ("literal", 0), self.value(self.nested(self.unary)))
        return self.indexed(self.nested(self.primary))

    def indexed(self, value: tuple) -> tuple:
        while self.peek("["):
            self.value(value)
            self.at += 1
            index = ("literal", self.take().text.upper()) if self.peek("FIRST", "LAST", "SIZE") else \
                self.value(self.expression())
            self.take("]")
            value = ("index", value, index)
        return value

    def arguments(self) -> tuple:
        self.take("(")
        found = [] if self.peek(")") else [self.value(self.expression())]
        while self.peek(","):
            self.at += 1
            found.append(self.value(self.expression()))
        self.take(")")
        return tuple(found)

    def value(self, node: tuple) -> tuple:
        """``node``, which must be a value: a predicate in brackets cannot be added to, indexed or listed."""
        if node[0] in _PREDICATES:
            self.at -= 1
            self.fail("a predicate where a value belongs")
        return node

    def primary(self) -> tuple:
        token = self.take()
        if token.kind == "string":
            return ("literal", _unquote(token.text))
        if token.kind == "number":
            return ("literal", _number(token.text))
        if token.kind == "source":
            source, name = re.fullmatch(r"@(\w+)\s*\(\s*(.+?)\s*\)", token.text).groups()
            return ("source", source, name)
        if token.kind == "variable":
            return ("variable", token.text[1:])
        if token.text == "(":  # a value or a whole predicate: ``comparison`` tells which it may be
            inner = self.predicate(bracketed=True)
            self.take(")")
            return inner
        if token.kind == "word" and token.text.upper() in ("TRUEPREDICATE", "FALSEPREDICATE"):
            return ("constant", token.text.upper() == "TRUEPREDICATE")
        if token.text == "{":
            items = [] if self.peek("}") else [self.value(self.expression())]
            while self.peek(","):
                self.at += 1
                items.append(self.value(self.expression()))
            self.take("}")
            return ("aggregate", tuple(items))
        if token.kind == "word" and token.text.upper() == "SUBQUERY":
            self.take("(")
            collection = self.value(self.expression())
            self.take(",")
            variable = self.take()
            if variable.kind != "variable":
                self.at -= 1
                self.fail("expected a $variable")
            self.take(",")
            condition = self.truth(self.nested(self.predicate))
            self.take(")")
            return ("subquery", collection, variable.text[1:], condition)
        if token.kind == "word" and token.text.upper() == "FUNCTION":  # FUNCTION(receiver, 'selector', ...)
            return ("function", "FUNCTION", self.arguments())
        if token.kind == "word" and self.peek(":"):  # a built-in function: count:(...), lowercase:(...)
            self.at += 1
            return ("function", token.text, self.arguments())
        if token.kind == "word" and token.text.upper() in _LITERALS:
            return ("literal", _LITERALS[token.text.upper()])
        if token.kind == "word" and token.text.upper() == "SELF":
            return ("keypath", "SELF")
        if token.kind == "word" and (token.text.startswith("#") or token.text.upper() not in _RESERVED):
            path = [token.text.lstrip("#")]
            while self.peek(".") and self.at + 1 < len(self.tokens) and self.tokens[self.at + 1].kind == "word":
                self.at += 1
                path.append(self.take().text.lstrip("#"))
            return ("keypath", ".".join(path))
        self.at -= 1
        self.fail("expected a value")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda match: {"n": "\n", "t": "\t", "r": "\r"}.get(match[1], match[1]), text[1:-1])


def _number(text: str) -> int | float:
    if text[:2].lower() in ("0x", "0o", "0b"):
        return int(text, 0)
    return float(text) if any(mark in text for mark in ".eE") else int(text)


def parse(text: str) -> tuple:
    """The predicate's tree; PredicateError (naming where) when a phone could not read it."""
    if not isinstance(text, str) or not text.strip():
        raise PredicateError("a predicate must be a non-empty string")
    if len(text) > MAX_LENGTH:
        raise PredicateError(f"a predicate of more than {MAX_LENGTH} characters")
    reader = _Reader(text)
    tree = reader.predicate()
    if reader.peek() is not None:
        reader.fail("unexpected text after the predicate")
    return reader.truth(tree)


def sources(tree: tuple) -> list[tuple[str, str]]:
    """Every ``(source, name)`` the predicate reads (``("status", "device.model.family")``)."""
    found, pending = [], [tree]
    while pending:
        node = pending.pop()
        if node[0] == "source":
            found.append(node[1:])
        pending.extend(part for part in node[1:] if isinstance(part, tuple) and part and isinstance(part[0], str))
        pending.extend(item for part in node[1:] if isinstance(part, tuple) for item in part
                       if isinstance(item, tuple))
    return sorted(set(found))


@dataclass(frozen=True)
class _Values:
    facts: Mapping[str, Any]
    properties: Mapping[str, Any]
    variables: Mapping[str, Any]


def evaluate(tree: tuple, facts: Mapping[str, Any], properties: Mapping[str, Any]) -> bool:
    """What a phone with these status values and management properties decides."""
    return _truth(tree, _Values(facts, properties, {}))


def _truth(tree: tuple, values: _Values) -> bool:
    kind = tree[0]
    if kind == "constant":
        return tree[1]
    if kind == "not":
        return not _truth(tree[1], values)
    if kind in ("and", "or"):
        parts = (_truth(part, values) for part in tree[1:])
        return any(parts) if kind == "or" else all(parts)
    _, qualifier, name, options, left, right = tree
    value, other = _value(left, values), _value(right, values)
    if qualifier is None:
        return _compare(name, options, value, other)
    items = value if isinstance(value, (list, tuple)) else [value]
    results = (_compare(name, options, item, other) for item in items)
    return {"ANY": any, "SOME": any, "ALL": all}.get(qualifier, lambda found: not any(found))(results)


def _value(tree: tuple, values: _Values) -> Any:
    kind = tree[0]
    if kind == "literal":
        return tree[1]
    if kind == "source":
        return (values.facts if tree[1] == "status" else values.properties).get(tree[2])
    if kind == "variable":
        return values.variables.get(tree[1])
    if kind == "aggregate":
        return [_value(item, values) for item in tree[1]]
    if kind == "subquery":
        collection = _value(tree[1], values)
        return [item for item in (collection if isinstance(collection, list) else ())
                if _truth(tree[3], _Values(values.facts, values.properties, {**values.variables, tree[2]: item}))]
    if kind == "function":
        arguments = [_value(argument, values) for argument in tree[2]]
        function = _FUNCTIONS.get(tree[1])
        try:
            return function(*arguments) if function is not None else None
        except (TypeError, ValueError, ArithmeticError):
            return None
    if kind == "arithmetic":
        left, right = _value(tree[2], values), _value(tree[3], values)
        if not all(isinstance(side, (int, float)) and not isinstance(side, bool) for side in (left, right)):
            return None
        try:
            return _ARITHMETIC[tree[1]](left, right)
        except (ArithmeticError, ValueError):
            return None
    if kind == "index":
        collection, index = _value(tree[1], values), _value(tree[2], values)
        if not isinstance(collection, (list, tuple)):
            return None
        if index == "SIZE":
            return len(collection)
        position = {"FIRST": 0, "LAST": -1}.get(index, index)
        in_range = isinstance(position, int) and -len(collection) <= position < len(collection)
        return collection[position] if in_range else None
    return None  # key paths: a phone has no object to read them from


#: The built-in functions a phone's predicate may call that have a meaning here (others compare as nothing).
_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "count": len, "lowercase": str.lower, "uppercase": str.upper, "sum": lambda items: sum(items),
    "min": lambda items: min(items), "max": lambda items: max(items),
    "average": lambda items: sum(items) / len(items)}


_ARITHMETIC: Mapping[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": lambda base, exponent: base ** exponent if abs(exponent) <= 64 else None}


def _folded(value: Any, options: str) -> Any:
    if not isinstance(value, str):
        return value
    if "d" in options:
        value = "".join(c for c in unicodedata.normalize("NFD", value) if not unicodedata.combining(c))
    return value.casefold() if "c" in options else value


def _compare(name: str, options: str, value: Any, other: Any) -> bool:
    value, other = _folded(value, options), (
        [_folded(item, options) for item in other] if isinstance(other, list) else _folded(other, options))
    if name == "==":
        return value == other
    if name == "!=":
        return value != other
    if name == "IN":
        return isinstance(other, (list, str)) and isinstance(value, str if isinstance(other, str) else object) \
            and value in other
    if name == "BETWEEN":
        return isinstance(other, list) and len(other) == 2 and _ordered("<=", other[0], value) \
            and _ordered("<=", value, other[1])
    if name in ("<", "<=", ">", ">="):
        return _ordered(name, value, other)
    if name == "CONTAINS":
        return isinstance(value, (str, list)) and (other in value if isinstance(value, list) else
                                                   isinstance(other, str) and other in value)
    if not isinstance(value, str) or not isinstance(other, str):
        return False
    if name == "BEGINSWITH":
        return value.startswith(other)
    if name == "ENDSWITH":
        return value.endswith(other)
    if name == "LIKE":
        return fnmatch.fnmatchcase(value, other.replace("[", "[[]"))
    if name == "MATCHES":
        try:
            return re.fullmatch(other, value) is not None
        except re.error:
            return False
    return False  # UTI comparisons: no app types on this path


def _ordered(name: str, value: Any, other: Any) -> bool:
    numbers = all(isinstance(side, (int, float)) and not isinstance(side, bool) for side in (value, other))
    if not numbers and not (isinstance(value, str) and isinstance(other, str)):
        return False
    return {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[name](value, other)
