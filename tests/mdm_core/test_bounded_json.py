"""Untrusted JSON: nested at most ``MAX_DEPTH`` levels, in every encoding ``json.loads`` reads."""
import json

import pytest

from mdm_core import bounded_json
from mdm_core.bounded_json import MAX_DEPTH


def _nested(depth: int) -> str:
    """``depth`` levels, arrays and objects alternating."""
    text = "1"
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k": {text}}}'
    return text


@pytest.mark.parametrize("encode", [str, lambda text: text.encode(), lambda text: text.encode("utf-16"),
                                    lambda text: text.encode("utf-32-le")])
def test_a_document_one_level_too_deep_is_refused_in_any_encoding(encode):
    assert bounded_json.loads(encode(_nested(MAX_DEPTH))) == json.loads(_nested(MAX_DEPTH))
    with pytest.raises(ValueError, match="nested deeper than"):
        bounded_json.loads(encode(_nested(MAX_DEPTH + 1)))


def test_brackets_inside_strings_count_for_nothing_but_the_walk():
    document = {"text": "[{" * 200, "list": [[1], {"a": [2]}]}
    assert bounded_json.loads(json.dumps(document)) == document


def test_recursion_past_the_interpreter_limit_is_malformed_json_not_recursion_error():
    with pytest.raises(ValueError, match="too deeply"):
        bounded_json.loads(b"[" * 100_000 + b"]" * 100_000)
