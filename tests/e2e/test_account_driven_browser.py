"""Account-Driven User Enrollment against the real test IdP (panva/oidc-provider) over real HTTP:
the simulated iPhone with a headless web sheet, and Chromium walking the web sign-in page."""
from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest

from mdm_core import account_driven as ad
from mdm_core.simulator.account_driven import enroll_account_driven
from mdm_core.simulator.device import SimulatedDevice, SimulatorError
from mdm_core.simulator.web_sign_in import FormWalker
from portal.extensions import db
from portal.models import Device, EndUser
from portal.settings_store import update_enrollment_settings

pytestmark = pytest.mark.e2e
BODY = ad.request_body("en-US", "iPhone17,2", "22B83")


@pytest.fixture
def account_driven_on(oidc_app, oidc_provider):
    with oidc_app.app_context():
        update_enrollment_settings({"account_driven_enabled": True, "managed_domains": ["example.org"]})
        db.session.commit()
    oidc_provider.set_accounts({"u-alice": {"email": "alice@example.org", "groups": ["staff"]},
                                "u-bob": {"email": "bob@example.org", "groups": ["staff"]}})
    return oidc_app


@pytest.fixture
def http(live_server):
    with httpx.Client(timeout=30.0) as client:
        yield client


def iphone() -> SimulatedDevice:
    return SimulatedDevice("user", os_version="18.1", build_version="22B83", product_name="iPhone17,2")


def test_simulated_iphone_enrolls_with_a_real_idp_sign_in(account_driven_on, oidc_provider, live_server, http):
    device = iphone()
    with httpx.Client(timeout=30.0) as web_sheet:
        walker = FormWalker(web_sheet, {"login": "u-alice", "password": "any", "acknowledge": "yes"})
        result = enroll_account_driven(device, http, "alice@example.org", walker, discovery_host=live_server)
    assert any("/interaction/" in url for url in walker.visited), "the sign-in went through the IdP"
    exchanges = device.poll(http)  # the inventory round queued at enrollment, then an empty queue
    assert exchanges and all(e.status == "Acknowledged" for e in exchanges)
    assert device.poll(http) == []
    with account_driven_on.app_context():
        row = db.session.scalar(db.select(Device))
        user = db.session.get(EndUser, row.user_id)
        assert (user.issuer, user.subject) == (oidc_provider.issuer, "u-alice")
        assert (row.enrollment_type, row.enrollment_method, row.enrollment_id) == ("user", "account_driven",
                                                                                   device.enrollment_id)
        assert row.access_token_hash == ad.hash_access_token(result.access_token)


def test_real_idp_identity_that_does_not_match_the_typed_account_is_refused(account_driven_on, live_server, http):
    with httpx.Client(timeout=30.0) as web_sheet:
        walker = FormWalker(web_sheet, {"login": "u-bob", "password": "any", "acknowledge": "yes"})
        with pytest.raises(SimulatorError, match="403"):
            enroll_account_driven(iphone(), http, "alice@example.org", walker, discovery_host=live_server)
    with account_driven_on.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Device)) == 0


def test_chromium_walks_the_web_sign_in_to_the_callback(account_driven_on, live_server, browser_page, http):
    challenge = http.post(f"{live_server}/account-driven/enroll", content=BODY)
    assert challenge.status_code == 401
    url = ad.web_sign_in_url(ad.parse_challenge(challenge.headers["WWW-Authenticate"]).url, "alice@example.org")
    page = browser_page
    callbacks: list[str] = []

    def web_sheet(route):
        """Chromium cannot follow the custom scheme: record the 308 as ASWebAuthenticationSession would."""
        response = route.fetch(max_redirects=0)
        if response.status == 303:  # after the acknowledgement; Chromium would follow it unrouted
            response = page.context.request.get(urljoin(route.request.url, response.headers["location"]),
                                                max_redirects=0)
        if response.status == 308:
            callbacks.append(response.headers["location"])
            route.fulfill(status=200, content_type="text/html",
                          body="<main><h1>Handed back to Settings</h1><p>The phone continues the enrollment.</p></main>")
        else:
            route.fulfill(response=response)

    page.route(re.compile(r".*/account-driven/authenticate/.*"), web_sheet)
    page.goto(url)
    page.wait_for_selector("input[name=login]")
    assert page.input_value("input[name=login]") in ("", "alice@example.org")
    page.shot("account-driven-1-idp-login")
    page.fill("input[name=login]", "u-alice")
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Authorize")
    page.shot("account-driven-2-idp-consent")
    page.click("button[type=submit]")
    page.wait_for_selector("#acknowledge")
    assert "alice@example.org" in page.inner_text("main") and "IT cannot" in page.inner_text("main")
    page.shot("account-driven-3-privacy")
    page.check("#acknowledge")
    page.click("text=Continue enrollment")
    page.wait_for_selector("text=Handed back to Settings")
    assert len(callbacks) == 1
    location = callbacks[0]
    assert re.fullmatch(r"apple-remotemanagement-user-login://authentication-results\?access-token=[A-Za-z0-9_-]+",
                        location)
    page.shot("account-driven-4-handed-back-to-settings")

    token = ad.access_token_from_callback(location)
    profile = http.post(f"{live_server}/account-driven/enroll", content=BODY, headers={"Authorization": f"Bearer {token}"})
    assert profile.status_code == 200
    device = iphone()
    device.bearer_token = token
    device.install_profile(profile.content, http)
    with account_driven_on.app_context():
        assert db.session.scalar(db.select(Device)).managed_apple_id == "alice@example.org"
