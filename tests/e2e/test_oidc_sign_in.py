"""Sign-in against an independent OpenID Connect provider (panva/oidc-provider), driven headlessly."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from portal.extensions import db
from portal.models import AuditEvent, Device, EndUser

pytestmark = pytest.mark.e2e
IOS17 = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1")


def cookie_names(session: requests.Session) -> set[str]:
    return {cookie.name for cookie in session.cookies}


def _form(html: str, base: str) -> tuple[str, dict[str, str]]:
    action = unescape(re.search(r'<form[^>]*action="([^"]+)"', html).group(1))
    fields = {unescape(n): unescape(v) for n, v in re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html)}
    return urljoin(base, action), fields


def idp_login(session: requests.Session, start_url: str, login: str) -> requests.Response:
    """Follow sign-in to the IdP, log in as ``login``, consent, and land back on the app."""
    page = session.get(start_url)
    assert "/interaction/" in page.url, page.text[:500]
    action, fields = _form(page.text, page.url)
    page = session.post(action, data={**fields, "login": login, "password": "any"})
    if "/interaction/" in page.url and 'name="prompt" value="consent"' in page.text:
        action, fields = _form(page.text, page.url)
        page = session.post(action, data=fields)
    return page


@pytest.fixture
def browser(live_server):
    with requests.Session() as session:
        session.headers["User-Agent"] = IOS17
        yield session


def test_sign_in_creates_the_user_from_mapped_claims(oidc_app, oidc_provider, live_server, browser):
    oidc_provider.set_accounts({"u-alice": {"email": "Alice@Example.org", "name": "Alice", "groups": ["staff", "vpn"]}})
    page = idp_login(browser, f"{live_server}/auth/login?next=/enroll/privacy", "u-alice")
    assert page.status_code == 200 and urlsplit(page.url).path == "/enroll/privacy"
    assert "alice@example.org" in page.text
    with oidc_app.app_context():
        user = db.session.scalar(db.select(EndUser))
        assert (user.issuer, user.subject, user.managed_apple_id) == (oidc_provider.issuer, "u-alice", "alice@example.org")
        assert user.groups == ["staff", "vpn"]
        assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "end_user.signed_in")).actor == "alice@example.org"
    assert "byod_user_session" in cookie_names(browser)
    admin = browser.get(f"{live_server}/admin/", allow_redirects=False)
    assert admin.status_code == 302 and "/admin/login" in admin.headers["Location"], "an employee is no admin"


def test_a_second_sign_in_updates_the_same_user(oidc_app, oidc_provider, live_server, browser):
    oidc_provider.set_accounts({"u-bob": {"email": "bob@example.org", "groups": ["staff"]}})
    idp_login(browser, f"{live_server}/auth/login", "u-bob")
    oidc_provider.set_accounts({"u-bob": {"email": "bob@example.org", "groups": ["contractors"]}})
    browser.cookies.clear()
    idp_login(browser, f"{live_server}/auth/login", "u-bob")
    with oidc_app.app_context():
        users = db.session.scalars(db.select(EndUser)).all()
        assert [(u.subject, u.groups) for u in users] == [("u-bob", ["contractors"])]


def test_group_and_domain_restrictions_refuse_with_a_reason(oidc_app, oidc_provider, live_server, browser, api_token):
    token = api_token("settings-admin")
    response = browser.patch(f"{live_server}/api/v1/settings/enrollment", headers={"Authorization": f"Bearer {token}"},
                             json={"allowed_domains": ["example.org"], "allowed_groups": ["staff"]})
    assert response.status_code == 200, response.text
    oidc_provider.set_accounts({"u-out": {"email": "eve@elsewhere.net", "groups": ["staff"]},
                                "u-contractor": {"email": "carl@example.org", "groups": ["contractors"]},
                                "u-staff": {"email": "sam@example.org", "groups": ["staff"]}})
    page = idp_login(browser, f"{live_server}/auth/login?next=/enroll/privacy", "u-out")
    assert page.status_code == 403 and "not in a domain that may enroll" in page.text
    browser.cookies.clear()
    page = idp_login(browser, f"{live_server}/auth/login?next=/enroll/privacy", "u-contractor")
    assert page.status_code == 403 and "not in a group that may enroll" in page.text
    browser.cookies.clear()
    page = idp_login(browser, f"{live_server}/auth/login?next=/enroll/privacy", "u-staff")
    assert page.status_code == 200 and 'name="acknowledge"' in page.text


def test_device_limit_refuses_the_download(oidc_app, oidc_provider, live_server, browser, api_token):
    token = api_token("settings-admin")
    browser.patch(f"{live_server}/api/v1/settings/enrollment", headers={"Authorization": f"Bearer {token}"},
                  json={"max_devices_per_user": 1})
    oidc_provider.set_accounts({"u-dana": {"email": "dana@example.org"}})
    idp_login(browser, f"{live_server}/auth/login", "u-dana")
    with oidc_app.app_context():
        user = db.session.scalar(db.select(EndUser))
        db.session.add(Device(enrollment_type="user", enrollment_method="profile_driven", enrollment_id="E-1",
                              status="enrolled", user_id=user.id, certificate_fingerprint="00" * 32))
        db.session.commit()
    page = browser.get(f"{live_server}/enroll/profile")
    assert page.status_code == 403
    assert "You already have 1 enrolled device" in page.text


def test_missing_managed_apple_id_claim_ends_on_a_clear_page(oidc_app, oidc_provider, live_server, browser):
    oidc_provider.set_accounts({"u-noemail": {"name": "No Mail"}})
    page = idp_login(browser, f"{live_server}/auth/login", "u-noemail")
    assert page.status_code == 400 and "no Managed Apple ID" in page.text
    assert "byod_user_session" not in cookie_names(browser)


def test_cancelled_sign_in_ends_on_a_clear_page_and_is_audited(oidc_app, live_server, browser):
    page = browser.get(f"{live_server}/auth/login")
    abort = re.search(r'href="([^"]*/abort)"', page.text).group(1)
    page = browser.get(urljoin(page.url, abort))
    assert page.status_code == 400 and "Sign-in was cancelled" in page.text
    with oidc_app.app_context():
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "end_user.sign_in_failed"))
        assert event.detail == {"reason": "cancelled"}


def test_tampered_state_is_refused(oidc_app, live_server, browser):
    start = browser.get(f"{live_server}/auth/login", allow_redirects=False)
    authorize = start.headers["Location"]
    assert parse_qs(urlsplit(authorize).query)["code_challenge_method"] == ["S256"]
    page = browser.get(authorize, allow_redirects=False)
    while page.is_redirect and "/interaction/" not in page.headers["Location"]:
        page = browser.get(urljoin(page.url, page.headers["Location"]), allow_redirects=False)
    page = browser.get(urljoin(page.url, page.headers["Location"]))
    action, fields = _form(page.text, page.url)
    page = browser.post(action, data={**fields, "login": "u-mallory", "password": "x"})
    action, fields = _form(page.text, page.url)
    page = browser.post(action, data=fields, allow_redirects=False)
    while urlsplit(page.headers["Location"]).path != "/auth/callback":
        page = browser.get(urljoin(page.url, page.headers["Location"]), allow_redirects=False)
    callback = page.headers["Location"]
    query = parse_qs(urlsplit(callback).query)
    tampered = f"{live_server}/auth/callback?code={query['code'][0]}&state=forged-{query['state'][0]}"
    page = browser.get(tampered)
    assert page.status_code == 400 and "stale or was not started here" in page.text
    assert "byod_user_session" not in cookie_names(browser)


def test_unreachable_idp_ends_on_a_clear_page(oidc_app, live_server, browser):
    oidc_app.config["OIDC_ISSUER"] = "http://127.0.0.1:9"
    page = browser.get(f"{live_server}/auth/login")
    assert page.status_code == 502 and "could not be reached" in page.text


def test_next_cannot_redirect_off_site(oidc_app, oidc_provider, live_server, browser):
    page = idp_login(browser, f"{live_server}/auth/login?next=//evil.example/steal", "zed@example.org")
    assert urlsplit(page.url).netloc == urlsplit(live_server).netloc
    assert urlsplit(page.url).path == "/enroll"
