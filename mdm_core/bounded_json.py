"""JSON decoding for untrusted text: request bodies, and the answers of servers we call (IdP, APNs)."""
from __future__ import annotations

import json
from typing import Any

from mdm_core.plist import shape_problem

#: No JSON we read nests this deep (command keys stop at mdm_core.plist.MAX_DEPTH); deeper is hostile,
#: and would exhaust recursion later (a repr in an error message, a plist writer).
MAX_DEPTH = 64


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """``json.loads``, raising ValueError (malformed JSON, like any other) for a document nested deeper
    than ``max_depth``: ``json.loads`` itself raises RecursionError, not ValueError, on 100,000 ``[``,
    which callers that catch ValueError let through as a 500. The walk is the plists' one (JSON cannot
    share references, so its element budget, the text's length, never binds)."""
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if _brackets(data) <= max_depth:  # cannot nest deeper: most bodies are this small, and the walk is skipped
        return value
    problem = shape_problem(value, max_depth=max_depth, max_elements=len(data))
    if problem:
        raise ValueError(f"JSON {problem}")
    return value


def _brackets(data: str | bytes) -> int:
    """At least the number of ``[`` and ``{`` in the document, so at least its depth: UTF-8, UTF-16 and UTF-32
    (which ``json.loads`` also reads) each hold the byte 0x7B or 0x5B for every bracket."""
    if isinstance(data, str):
        return data.count("{") + data.count("[")
    return data.count(b"{") + data.count(b"[")
