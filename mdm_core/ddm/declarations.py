"""One declaration: is it valid for this kind of enrollment, what is its server token, its document.

A server token is a hash of the declaration's canonical JSON, so it changes exactly when the
content does and a device re-fetches only the declarations that changed.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from mdm_core.capabilities import Problem, capped, check_keys
from mdm_core.ddm import ACTIVATION_TYPE
from mdm_core.ddm.payload_rules import check_rules
from mdm_core.ddm.tables import declaration_spec

__all__ = ["ACTIVATION_TYPE", "MAX_PAYLOAD_BYTES", "Problem", "activation_payload", "canonical_json", "declaration_document", "is_identifier", "server_token",
           "validate"]

#: Apple: identifiers and server tokens "should not exceed 64 octets". Identifiers travel in the
#: check-in ``Endpoint`` (``declaration/<type>/<identifier>``), so no slashes or spaces either.
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,63}")
#: Declarations are small JSON documents (bulk data goes in data assets, fetched by URL).
MAX_PAYLOAD_BYTES = 256 * 1024


def is_identifier(value: object) -> bool:
    return isinstance(value, str) and IDENTIFIER_PATTERN.fullmatch(value) is not None


def validate(type: str, payload: Mapping[str, Any], *, user_enrollment: bool,
             identifier: str | None = None) -> list[Problem]:
    """Every problem with a declaration for a user-enrolled (or an unsupervised device-enrolled) iPhone.

    Errors refuse it: an unknown or non-iOS type, a type or key User Enrollment does not allow
    (naming it), unknown, missing or wrongly typed keys and values, an oversized payload, a bad
    identifier, a rule Apple states in words broken (``payload_rules``). Warnings (supervised-only keys for
    device enrollment) do not. The walk follows
    the schema, and the problems stop at ``MAX_PROBLEMS`` (the last then refuses it: ``capped``).
    """
    problems: list[Problem] = []
    if identifier is not None and not is_identifier(identifier):
        problems.append(Problem("error", "Identifier", "Identifier must be 1 to 64 letters, digits or . _ : @ + - "
                                "and start with a letter or digit"))
    spec = declaration_spec(type) if isinstance(type, str) else None
    if spec is None:
        return [*problems, Problem("error", "Type", f"unknown declaration type {type!r}")]
    if not spec.ios_supported:
        return [*problems, Problem("error", "Type", f"{type} is not available on iOS", type)]
    if user_enrollment and not spec.user_enrollment:
        allowed = ", ".join(spec.allowed_enrollments or ())
        return [*problems, Problem("error", "Type", f"{type} is not allowed under User Enrollment "
                                   f"(Apple allows it for: {allowed})", type, forbids_user_enrollment=True)]
    if not isinstance(payload, Mapping):
        return [*problems, Problem("error", "Payload", "Payload must be a JSON object", type)]
    try:
        size = len(canonical_json(payload))
    except (TypeError, ValueError, RecursionError):
        return [*problems, Problem("error", "Payload", "Payload holds values JSON cannot carry", type)]
    if size > MAX_PAYLOAD_BYTES:
        return [*problems, Problem("error", "Payload", f"Payload is {size} bytes; at most {MAX_PAYLOAD_BYTES} "
                                   "are accepted (put large content in a data asset)", type)]
    if not user_enrollment and spec.supervised_only:
        problems.append(Problem("warning", "Type", f"{type} takes effect only on supervised devices", type))
    check_keys(payload, spec.keys, "user" if user_enrollment else None, problems, unknown_severity="error",
               payload_type=type)
    problems.extend(check_rules(type, payload, user_enrollment=user_enrollment))
    capped(problems)
    return problems


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def server_token(type: str, identifier: str, payload: Mapping[str, Any]) -> str:
    """A token over the whole declaration: equal content, equal token; any change, a new one."""
    content = canonical_json({"Type": type, "Identifier": identifier, "Payload": payload})
    return hashlib.sha256(content).hexdigest()[:32]


def declaration_document(type: str, identifier: str, server_token: str,
                         payload: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON a device fetches from ``declaration/<type>/<identifier>`` (``declarationbase.yaml``)."""
    return {"Type": type, "Identifier": identifier, "ServerToken": server_token, "Payload": dict(payload)}


def activation_payload(configurations: list[str], predicate: str | None = None) -> dict[str, Any]:
    """A simple activation's payload: the configurations it applies, when ``predicate`` (if any) holds."""
    payload: dict[str, Any] = {"StandardConfigurations": sorted(configurations)}
    if predicate is not None:
        payload["Predicate"] = predicate
    return payload
