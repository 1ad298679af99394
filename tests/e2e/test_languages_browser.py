"""The German and Japanese enrollment and privacy pages in headless Chromium at an iPhone viewport, the
browser's language set as an iPhone's would be (screenshots lang-<language>-enroll/privacy.png)."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.settings_store import DEFAULT_ENROLLMENT_TEXT, update_enrollment_settings

from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, IPHONE

pytestmark = pytest.mark.e2e
DISCLOSURES = {"de": "## Was Ihre Organisation sieht\n\nNur die Apps und Daten der Organisation.",
               "ja": "## 組織が確認できること\n\n組織のAppとデータだけです。"}
TEXTS = {"de": "Registrieren Sie Ihr eigenes iPhone, um die Apps der Organisation zu nutzen.",
         "ja": "ご自分のiPhoneを登録すると、組織のAppを使えます。"}
EXPECTED = {"de": ("Registrieren Sie Ihr Gerät bei", "Vor der Registrierung: Ihre Privatsphäre"),
            "ja": ("にデバイスを登録", "登録の前に：お客様のプライバシーについて")}


@pytest.fixture
def translated_disclosure(app):
    """The organisation's own texts in German and Japanese, for this test only."""
    def change(texts, disclosures):
        with app.app_context():
            update_enrollment_settings({"enrollment_text": {"default": DEFAULT_ENROLLMENT_TEXT, **texts},
                                        "privacy_disclosure_translations": disclosures})
            db.session.commit()

    change(TEXTS, DISCLOSURES)
    yield
    change({}, {})


@pytest.mark.parametrize("language, locale", [("de", "de-DE"), ("ja", "ja-JP")])
def test_the_enrollment_pages_in_the_phones_language(chromium, tmp_path, live_server, translated_disclosure,
                                                     language, locale):
    context = chromium.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                          args=CHROMIUM_ARGS, headless=True, locale=locale, **IPHONE)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(f"{live_server}/enroll")
        assert page.get_attribute("html", "lang") == language
        assert EXPECTED[language][0] in page.inner_text("h1") and TEXTS[language] in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / f"lang-{language}-enroll.png"), full_page=True)
        page.click("#steps-h ~ a.button")
        page.click("button[value=sign_in]")  # the demo identity provider
        page.wait_for_url(f"{live_server}/enroll/privacy")
        assert page.inner_text("h1") == EXPECTED[language][1]
        assert DISCLOSURES[language].splitlines()[-1] in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / f"lang-{language}-privacy.png"), full_page=True)
    finally:
        context.close()
