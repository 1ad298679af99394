"""JSON decoding that treats a body nested too deeply as malformed JSON."""
from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

from mdm_core.plist import shape_problem

#: No request body of ours nests this deep (command keys stop at mdm_core.plist.MAX_DEPTH); deeper is
#: hostile, and would exhaust recursion later (a repr in an error message, a plist writer).
MAX_JSON_DEPTH = 64


class BoundedJSONProvider(DefaultJSONProvider):
    """``json.loads`` raises RecursionError, not ValueError, on a body like 100,000 ``[``, and Flask's
    ``get_json(silent=True)`` silences only ValueError: every JSON endpoint answered 500. Here that
    body, and any nested deeper than MAX_JSON_DEPTH, is a ValueError: malformed JSON like any other,
    which each endpoint answers with its 400. The walk is the plists' one (JSON cannot share
    references, so its element budget, the body's length, never binds)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        problem = shape_problem(value, max_depth=MAX_JSON_DEPTH, max_elements=len(s))
        if problem:
            raise ValueError(f"JSON {problem}")
        return value
