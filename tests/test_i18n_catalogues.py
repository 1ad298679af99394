"""Translation catalogues: the template lists every string the code marks, each shipped catalogue
translates every one of them, and the committed .mo files are those compiled from the .po files."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from portal.i18n import LANGUAGES
from tests.helpers import REPO

TRANSLATIONS = REPO / "portal" / "translations"
CATALOGUES = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


def _marked_strings() -> set[str]:
    with open(REPO / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = extract_from_dir(str(REPO / "portal"), method_map, options_map, keywords={"_": None, "_l": None,
                                                                                     "gettext": None, "ngettext": (1, 2)})
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


def _read(path: Path, locale: str | None = None):
    with open(path, "rb") as handle:
        return read_po(handle, locale=locale)


def test_the_template_lists_every_marked_string():
    template = {m.id if isinstance(m.id, str) else m.id[0] for m in _read(TRANSLATIONS / "messages.pot") if m.id}
    marked = _marked_strings()
    assert marked - template == set(), "run `make i18n-update` (strings marked in the code are not in messages.pot)"
    assert template - marked == set(), "run `make i18n-update` (messages.pot lists strings the code no longer has)"


def test_every_language_of_the_portal_is_shipped():
    assert {po.parts[-3] for po in CATALOGUES} == set(LANGUAGES) - {"en"}


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-3])
def test_each_catalogue_compiles_cleanly(po):
    """Placeholders match their msgid, plurals have the language's forms, and the header is not fuzzy
    (pybabel compile skips a fuzzy catalogue)."""
    catalogue = _read(po, po.parts[-3])
    assert not catalogue.fuzzy
    problems = [(message.id, str(error)) for message, errors in catalogue.check() for error in errors]
    assert problems == []


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-3])
def test_every_string_is_translated_in_each_shipped_language(po):
    template = {m.id for m in _read(TRANSLATIONS / "messages.pot") if m.id}
    catalogue = _read(po, po.parts[-3])
    translated = {m.id for m in catalogue if m.id and m.string and not m.fuzzy
                  and (all(m.string) if isinstance(m.string, tuple) else True)}
    assert template - translated == set(), f"untranslated in {po.parts[-3]}"


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-3])
def test_the_committed_mo_is_compiled_from_the_po(po):
    compiled = io.BytesIO()
    write_mo(compiled, _read(po, po.parts[-3]))
    assert po.with_suffix(".mo").read_bytes() == compiled.getvalue(), "run `make i18n-compile`"
