"""README's "Command line" section lists the API token scopes an admin may pass to ``create-api-token --scope``
and which of them a token gets by default; the list must match the scopes the command accepts."""
import re
from pathlib import Path

from portal.models.api_token import DEFAULT_SCOPES, SCOPES

README = Path(__file__).resolve().parents[1] / "README.md"


def _scope_paragraph() -> str:
    text = README.read_text()
    start = text.index("API token scopes:")
    return text[start:text.index("\n\n", start)]


def test_readme_names_every_scope_create_api_token_accepts():
    named = set(re.findall(r"`([a-z_]+)`", _scope_paragraph()))
    assert set(SCOPES) <= named, f"README's scope list lacks {sorted(set(SCOPES) - named)}"


def test_readme_says_which_scopes_a_token_gets_by_default():
    """It says the listed scopes are "all of them by default", but the default token also gets ``apps`` and
    never ``mail``."""
    paragraph = _scope_paragraph()
    listed_as_default = set(re.findall(r"`([a-z_]+)`", paragraph[:paragraph.index("by default")]))
    assert listed_as_default == set(DEFAULT_SCOPES), (sorted(listed_as_default), sorted(DEFAULT_SCOPES))
