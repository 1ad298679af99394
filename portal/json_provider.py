"""JSON decoding that treats a body nested too deeply as malformed JSON."""
from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

from mdm_core import bounded_json

MAX_JSON_DEPTH = bounded_json.MAX_DEPTH


class BoundedJSONProvider(DefaultJSONProvider):
    """``json.loads`` raises RecursionError, not ValueError, on a body like 100,000 ``[``, and Flask's
    ``get_json(silent=True)`` silences only ValueError: every JSON endpoint answered 500. Here that
    body, and any nested deeper than MAX_JSON_DEPTH, is a ValueError (``mdm_core.bounded_json``):
    malformed JSON like any other, which each endpoint answers with its 400."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return bounded_json.loads(s, max_depth=MAX_JSON_DEPTH, **kwargs)
