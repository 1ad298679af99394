"""Issue 21's acceptance: the enrollment pages in German (``Accept-Language: de``) and the account-driven
pages in Japanese (the phone's ``LANGUAGE``) show no English: none of the catalogue's English texts, none of
the organisation's English texts, and no English sentence at all (names, addresses and identifiers aside)."""
from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po

from mdm_core import account_driven as ad
from portal.extensions import db
from portal.models import Device, EndUser
from portal.models.base import utcnow
from portal.settings_store import DEFAULT_ENROLLMENT_TEXT, DEFAULT_PRIVACY_DISCLOSURE, update_enrollment_settings
from tests.helpers import REPO, acknowledge, demo_sign_in

IPHONE_17 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Mobile/15E148 Safari/604.1"
IPHONE_18 = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Version/18.1 Mobile/15E148 Safari/604.1"
OLD_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 Version/12.1 Mobile/15E148 Safari/604.1"
ORG_TEXTS = {
    "de": ("Registrieren Sie Ihr eigenes iPhone für die Arbeit.", "## Was Ihre Organisation sieht\n\nNur Arbeitsdaten."),
    "ja": ("ご自分のiPhoneを仕事用に登録してください。", "## 組織が確認できること\n\n仕事用のデータだけです。"),
}
# English words that no German or Japanese sentence of these pages contains
ENGLISH_WORDS = re.compile(r"\b(the|your|you|and|with|this|from|to|of|is|are|not|can|cannot|device|devices|enroll|"
                           r"sign|page|here|again|what|how)\b", re.IGNORECASE)


def _english_fragments() -> set[str]:
    """Every piece of English text of the catalogue's messages, as a page shows it: tags dropped, entities
    decoded, split at placeholders; only pieces of two words or more (a lone word may be a name or the
    same in German, such as "Status")."""
    with open(REPO / "portal" / "translations" / "messages.pot", "rb") as handle:
        template = read_po(handle)
    fragments = set()
    for message in template:
        for text in (message.id if isinstance(message.id, tuple) else (message.id,)):
            visible = html.unescape(re.sub(r"<[^>]+>", "", text or ""))
            for piece in re.split(r"%\(\w+\)[sd]", visible):
                piece = piece.strip(" .,:;()")
                if len(piece.split()) >= 2:
                    fragments.add(piece)
    for default in (DEFAULT_ENROLLMENT_TEXT, DEFAULT_PRIVACY_DISCLOSURE):  # the organisation's built-in texts
        fragments.update(line.strip("#*-_ .;:") for line in default.splitlines() if len(line.split()) >= 3)
    return fragments


ENGLISH = _english_fragments()


def visible_text(page: str) -> str:
    """What a person reads: the body without tags, scripts or the values of hidden fields, plus the title."""
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page.split("<body", 1)[1], flags=re.S)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", title + " " + body).split()))


def assert_no_english(page: str, language: str) -> None:
    assert f'<html lang="{language}">' in page
    text = visible_text(page)
    left = sorted(fragment for fragment in ENGLISH if fragment in text)
    assert left == [], f"English left on the page: {left}"
    # names, addresses and identifiers aside, no English word remains
    readable = re.sub(r"\S+@\S+|https?://\S+|BYOD MDM|Apple ID|iPhone\S*|iPad\S*|Safari|Mac|iOS|iPadOS|OIDC_ISSUER|"
                      r"Reference: \w+|demo-\w+|Alice Example", " ", text)
    assert ENGLISH_WORDS.findall(readable) == [], readable


@pytest.fixture
def translated_org(app):
    with app.app_context():
        update_enrollment_settings({
            "account_driven_enabled": True, "managed_domains": ["example.org"],
            "enrollment_text": {"default": DEFAULT_ENROLLMENT_TEXT, **{code: texts[0] for code, texts in ORG_TEXTS.items()}},
            "privacy_disclosure_translations": {code: texts[1] for code, texts in ORG_TEXTS.items()}})
        db.session.commit()


def test_the_enrollment_pages_in_german_have_no_english(app, client, translated_org):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-DE,de;q=0.9,en;q=0.5"
    pages = []
    for agent in (IPHONE_17, IPHONE_18, OLD_IPHONE, "curl/8"):
        client.environ_base["HTTP_USER_AGENT"] = agent
        pages.append(client.get("/enroll"))
    client.environ_base["HTTP_USER_AGENT"] = IPHONE_17
    demo_sign_in(client)
    pages += [client.get("/enroll"), client.get("/enroll/privacy")]
    refused = client.post("/enroll/privacy", data={"version": "x"})  # no CSRF token: the error page
    assert refused.status_code == 400
    pages.append(refused)
    assert acknowledge(client).status_code == 302
    with app.app_context():  # an enrolled device, for the transparency page's holdings
        user = db.session.scalar(db.select(EndUser).where(EndUser.subject == "demo-alice"))
        db.session.add(Device(enrollment_type="user", enrollment_method="profile_driven", enrollment_id="walk-1",
                              certificate_fingerprint="e" * 64, user_id=user.id, status="enrolled",
                              enrolled_at=utcnow(), model_name="iPhone 16"))
        db.session.commit()
    pages += [client.get("/enroll/profile"), client.get("/enroll/devices"), client.get("/me/"),
              client.get("/enroll/no-such-page")]
    client.environ_base["HTTP_USER_AGENT"] = IPHONE_18
    pages.append(client.get("/enroll/profile"))  # iOS 18: enroll from Settings instead (409)
    for response in pages:
        assert response.status_code in (200, 400, 404, 409), response.status_code
        assert_no_english(response.get_data(as_text=True), "de")
    assert "Registrieren Sie Ihr eigenes iPhone" in pages[0].get_data(as_text=True)
    assert "Nur Arbeitsdaten." in pages[5].get_data(as_text=True)
    assert "Registrierungsart" in pages[9].get_data(as_text=True)  # the holdings of the transparency page


def _sign_in_page(device_http, client, language: str, account: str = "alice@example.org"):
    """The phone's BaseURL request with ``LANGUAGE``, then the sign-in page its challenge opens."""
    challenge = device_http.post("/account-driven/enroll", content=ad.request_body(language, "iPhone17,2", "22B83"),
                                 headers={"Content-Type": "application/xml"})
    assert challenge.status_code == 401
    url = ad.web_sign_in_url(ad.parse_challenge(challenge.headers["WWW-Authenticate"]).url, account)
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def test_the_account_driven_pages_in_japanese_have_no_english(client, device_http, translated_org):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US"  # the phone's LANGUAGE wins over the sheet's
    client.environ_base["HTTP_USER_AGENT"] = IPHONE_18
    demo_sign_in(client, next_path="/enroll")
    privacy = _sign_in_page(device_http, client, "ja-JP")
    assert privacy.status_code == 200
    page = privacy.get_data(as_text=True)
    assert_no_english(page, "ja")
    assert "仕事用のデータだけです。" in page and "登録を続ける" in page
    unticked = client.post(privacy.request.full_path, data={"csrf_token": re.search(
        r'name="csrf_token" value="([^"]+)"', page).group(1), "version": re.search(
        r'name="version" value="([^"]+)"', page).group(1)})
    assert unticked.status_code == 400
    assert_no_english(unticked.get_data(as_text=True), "ja")
    mismatch = _sign_in_page(device_http, client, "ja-JP", account="bob@example.org")
    assert mismatch.status_code == 403
    assert_no_english(mismatch.get_data(as_text=True), "ja")
    assert "bob@example.org" in mismatch.get_data(as_text=True)


def test_the_organisations_texts_fall_back_to_the_default_language(app, client, translated_org):
    with app.app_context():  # the organisation's own disclosure, in its default language only
        update_enrollment_settings({"privacy_disclosure": "## What we see at Example\n\nOnly work data."})
        db.session.commit()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    client.environ_base["HTTP_USER_AGENT"] = IPHONE_17
    demo_sign_in(client)
    page = client.get("/enroll/privacy").get_data(as_text=True)
    assert '<html lang="fr">' in page and "Avant de vous inscrire" in page
    assert "What we see at Example" in page  # no French disclosure: the default language's


@pytest.mark.parametrize("language, disclosure, text", [
    ("de", "Was Ihre Organisation sehen und tun kann", "Melden Sie Ihr eigenes iPhone"),
    ("ja", "組織が確認できること・できること", "ご自身の iPhone または iPad を登録すると"),
    ("fr", "Ce que votre organisation peut voir et faire", "Inscrivez votre propre iPhone"),
    ("es", "Lo que su organización puede ver y hacer", "Inscriba su propio iPhone")])
def test_a_fresh_install_speaks_the_language_before_anyone_writes_a_word(client, language, disclosure, text):
    """The built-in enrollment text and disclosure, while the organisation keeps them, come translated."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = f"{language},en;q=0.5"
    client.environ_base["HTTP_USER_AGENT"] = IPHONE_17
    landing = client.get("/enroll").get_data(as_text=True)
    demo_sign_in(client)
    privacy = client.get("/enroll/privacy").get_data(as_text=True)
    assert text in landing and disclosure in privacy
    if language in ("de", "ja"):
        assert_no_english(landing, language)
        assert_no_english(privacy, language)


def test_the_check_finds_english(client, translated_org):
    """The same walk without a language: English pages fail the check (so it can fail)."""
    client.environ_base["HTTP_USER_AGENT"] = IPHONE_17
    demo_sign_in(client)
    for path in ("/enroll", "/enroll/privacy"):
        with pytest.raises(AssertionError, match="English left"):
            assert_no_english(client.get(path).get_data(as_text=True).replace('lang="en"', 'lang="de"'), "de")
