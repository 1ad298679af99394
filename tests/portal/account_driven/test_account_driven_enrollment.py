"""Account-Driven User Enrollment through the portal, signed in at the built-in demo IdP.

Each exchange is checked on the wire (status, headers, bodies) against Apple's documented syntax;
the simulated iPhone performs the whole flow as a phone does.
"""
from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest

from mdm_core import account_driven as ad
from mdm_core import cms, plist
from mdm_core.simulator.account_driven import built_in_identity, enroll_account_driven
from mdm_core.simulator.device import SimulatedDevice, SimulatorError
from mdm_core.simulator.web_sign_in import FormWalker
from portal.extensions import db
from portal.models import AuditEvent, Command, Device, EndUser, EnrollmentAccessToken
from portal.models.base import utcnow
from portal.settings_store import update_enrollment_settings

ALICE = {"user": "demo-alice", "action": "sign_in", "acknowledge": "yes"}
BOB = {"user": "demo-bob", "action": "sign_in", "acknowledge": "yes"}
BODY = ad.request_body("en-US", "iPhone17,2", "22B83")


@pytest.fixture
def settings(app):
    def change(**values):
        with app.app_context():
            update_enrollment_settings(values)
            db.session.commit()

    change(account_driven_enabled=True, managed_domains=["example.org"])
    return change


@pytest.fixture
def public_url(app):
    return app.config["PUBLIC_URL"]


@pytest.fixture
def web_sheet(app, public_url):
    """The phone's web authentication sheet: its own cookie jar."""
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=public_url) as sheet:
        yield sheet


@pytest.fixture
def phone(device_http, web_sheet, public_url, settings):
    """Enroll a simulated iOS 18 iPhone by account-driven enrollment; returns (device, enrollment)."""
    def enroll(account: str = "alice@example.org", answers: dict | None = None, sheet: httpx.Client | None = None):
        device = SimulatedDevice("user", os_version="18.1", build_version="22B83", product_name="iPhone17,2")
        result = enroll_account_driven(device, device_http, account, FormWalker(sheet or web_sheet, answers or ALICE),
                                       discovery_host=public_url)
        return device, result

    return enroll


def challenge_url(device_http, body: bytes = BODY, content_type: str = "application/xml") -> str:
    response = device_http.post("/account-driven/enroll", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 401, response.text
    return ad.parse_challenge(response.headers["WWW-Authenticate"]).url


def token_for(device_http, sheet, account="alice@example.org", answers=ALICE) -> str:
    callback = FormWalker(sheet, answers)(ad.web_sign_in_url(challenge_url(device_http), account))
    return ad.access_token_from_callback(callback)


# Discovery -----------------------------------------------------------------------------------


def test_discovery_answers_the_base_url_as_json(device_http, settings, public_url):
    response = device_http.get("/.well-known/com.apple.remotemanagement",
                               params={"user-identifier": "alice@example.org", "model-family": "iPhone"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"Servers": [{"Version": "mdm-byod", "BaseURL": f"{public_url}/account-driven/enroll"}]}
    assert list(response.json()["Servers"][0]) == ["Version", "BaseURL"]


@pytest.mark.parametrize("params, changes, description", [
    ({"user-identifier": "eve@elsewhere.net", "model-family": "iPhone"}, {}, "not a managed domain"),
    ({"user-identifier": "alice@example.org", "model-family": "iPhone"}, {"account_driven_enabled": False}, "turned off"),
    ({"model-family": "iPhone"}, {}, "user-identifier"),
    ({"user-identifier": "alice@example.org", "model-family": "Mac"}, {}, "model-family"),
    ({"user-identifier": "alice@example.org"}, {"managed_domains": []}, "not a managed domain"),
])
def test_discovery_is_refused_with_apples_well_known_failed(device_http, settings, params, changes, description):
    settings(**changes)
    response = device_http.get("/.well-known/com.apple.remotemanagement", params=params)
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "com.apple.well-known.failed"
    assert body["message"] and description in body["description"]


# The enrollment endpoint ---------------------------------------------------------------------


@pytest.mark.parametrize("signed, content_type", [(True, "application/pkcs7-signature"), (False, "application/xml"),
                                                  (False, "application/x-www-form-urlencoded"), (True, None)])
def test_enrollment_post_without_token_is_challenged_in_apples_syntax(device_http, settings, public_url, signed,
                                                                      content_type):
    body = cms.sign(BODY, built_in_identity(SimulatedDevice())) if signed else BODY
    headers = {"Content-Type": content_type} if content_type else {}
    response = device_http.post("/account-driven/enroll", content=body, headers=headers)
    assert response.status_code == 401
    assert response.content == b"" and response.headers["Content-Length"] == "0"
    assert re.fullmatch(rf'Bearer method="apple-as-web", url="{re.escape(public_url)}/account-driven/authenticate/[A-Za-z0-9_.-]+"',
                        response.headers["WWW-Authenticate"]), response.headers["WWW-Authenticate"]


def test_malformed_or_oversized_enrollment_posts_are_refused(device_http, settings):
    assert device_http.post("/account-driven/enroll", content=b"not a plist").status_code == 400
    assert device_http.post("/account-driven/enroll", content=b"x" * (ad.MAX_REQUEST_BYTES + 1)).status_code == 413


def test_enrollment_post_is_refused_when_the_method_is_off(device_http, settings):
    settings(account_driven_enabled=False)
    response = device_http.post("/account-driven/enroll", content=BODY)
    assert response.status_code == 403 and "WWW-Authenticate" not in response.headers


# Web sign-in and the token -------------------------------------------------------------------


def test_web_sign_in_ends_with_308_to_the_callback_with_an_empty_body(app, device_http, web_sheet, settings):
    token_for(device_http, web_sheet)  # signs in and acknowledges the privacy notice
    url = ad.web_sign_in_url(challenge_url(device_http), "alice@example.org")
    response = web_sheet.get(url)
    assert response.status_code == 308 and response.content == b""
    location = response.headers["Location"]
    assert re.fullmatch(r"apple-remotemanagement-user-login://authentication-results\?access-token=[A-Za-z0-9_-]{43}",
                        location), location
    token = ad.access_token_from_callback(location)
    with app.app_context():
        row = db.session.scalar(db.select(EnrollmentAccessToken).order_by(EnrollmentAccessToken.id.desc()))
        assert row.token_hash == ad.hash_access_token(token) and token not in row.token_hash
        assert (row.managed_apple_id, row.product, row.used_at) == ("alice@example.org", "iPhone17,2", None)


def test_privacy_notice_must_be_acknowledged_before_a_token_is_issued(app, device_http, web_sheet, settings):
    url = ad.web_sign_in_url(challenge_url(device_http), "alice@example.org")
    with pytest.raises(SimulatorError, match="none asks for"):  # signed in, then stopped at the notice
        FormWalker(web_sheet, {"user": "demo-alice", "action": "sign_in"})(url)
    page = web_sheet.get(url)
    assert page.status_code == 200 and 'name="acknowledge"' in page.text
    assert "alice@example.org</strong>, enrolling this device (iPhone17,2)." in page.text
    path = url.removeprefix(app.config["PUBLIC_URL"])
    assert f'<form method="post" action="{html.escape(path)}" id="acknowledge-form">' in page.text
    assert '<button type="submit">Continue enrollment</button>' in page.text
    fields = dict(re.findall(r'name="(csrf_token|version)" value="([^"]+)"', page.text))
    assert web_sheet.post(url, data=fields).status_code == 400
    acknowledged = web_sheet.post(url, data={**fields, "acknowledge": "yes"})
    assert acknowledged.status_code == 303 and acknowledged.headers["Location"] == url.removeprefix(app.config["PUBLIC_URL"])
    assert web_sheet.get(url).status_code == 308


def test_retried_post_with_the_token_gets_the_byod_profile(device_http, web_sheet, settings):
    token = token_for(device_http, web_sheet)
    response = device_http.post("/account-driven/enroll", content=BODY,
                                headers={"Content-Type": "application/x-www-form-urlencoded",
                                         "Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-apple-aspen-config"
    profile = plist.loads(cms.verify(response.content).content)
    mdm = next(p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.mdm")
    identity = next(p for p in profile["PayloadContent"] if p["PayloadUUID"] == mdm["IdentityCertificateUUID"])
    assert mdm["EnrollmentMode"] == "BYOD"
    assert mdm["AssignedManagedAppleID"] == "alice@example.org"
    assert "AccessRights" not in mdm and "ManagedAppleID" not in mdm
    assert identity["PayloadType"] == "com.apple.security.scep"


def _is_challenge(response: httpx.Response) -> bool:
    """Apple's answer to a POST without a valid token: 401 and the apple-as-web sign-in URL."""
    return (response.status_code == 401 and response.content == b""
            and "/account-driven/authenticate/" in ad.parse_challenge(response.headers["WWW-Authenticate"]).url)


def test_a_token_fetches_one_profile_only_then_the_phone_is_asked_to_sign_in_again(device_http, web_sheet, settings):
    token = token_for(device_http, web_sheet)
    headers = {"Authorization": f"Bearer {token}"}
    assert device_http.post("/account-driven/enroll", content=BODY, headers=headers).status_code == 200
    assert _is_challenge(device_http.post("/account-driven/enroll", content=BODY, headers=headers))


@pytest.mark.parametrize("authorization", ["expired", "unknown", "Basic dXNlcjpwYXNz", "Bearer "])
def test_an_expired_unknown_or_malformed_token_gets_the_sign_in_challenge(app, device_http, web_sheet, settings,
                                                                          authorization):
    token = token_for(device_http, web_sheet)
    with app.app_context():
        row = db.session.scalar(db.select(EnrollmentAccessToken))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    header = {"expired": f"Bearer {token}", "unknown": f"Bearer {ad.new_access_token()}"}.get(authorization, authorization)
    assert _is_challenge(device_http.post("/account-driven/enroll", content=BODY, headers={"Authorization": header}))


def test_a_valid_token_of_a_user_who_may_not_enroll_is_refused_not_challenged(device_http, web_sheet, settings):
    token = token_for(device_http, web_sheet)
    settings(allowed_domains=["example.com"])
    response = device_http.post("/account-driven/enroll", content=BODY, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and "WWW-Authenticate" not in response.headers
    assert "not in a domain that may enroll" in response.text


def test_signing_in_as_someone_else_is_refused_with_a_page(app, device_http, web_sheet, settings):
    url = ad.web_sign_in_url(challenge_url(device_http), "alice@example.org")
    with pytest.raises(SimulatorError, match="403"):
        FormWalker(web_sheet, BOB)(url)
    page = web_sheet.get(url)
    assert page.status_code == 403
    assert "You signed in as bob@example.org, but this device is enrolling alice@example.org" in page.text
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(EnrollmentAccessToken)) == 0
        event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "enrollment.refused"))
        assert event.detail == {"method": "account_driven", "reason": "identity_mismatch"}


@pytest.mark.parametrize("changes, status, text", [
    ({"account_driven_enabled": False}, 403, "turned enrollment by work account sign-in off"),
    ({"allowed_domains": ["example.com"]}, 403, "not in a domain that may enroll"),
])
def test_web_sign_in_follows_the_settings(device_http, web_sheet, settings, changes, status, text):
    url = ad.web_sign_in_url(challenge_url(device_http), "alice@example.org")
    settings(**changes)
    with pytest.raises(SimulatorError, match=str(status)):
        FormWalker(web_sheet, ALICE)(url)
    page = web_sheet.get(url)
    assert page.status_code == status and text in page.text


def test_web_sign_in_refuses_a_forged_or_missing_request(web_sheet, settings):
    forged = web_sheet.get("/account-driven/authenticate/forged.blob?user-identifier=alice@example.org")
    assert forged.status_code == 400 and "expired or is not valid" in forged.text


def test_device_limit_is_enforced_at_sign_in(phone, web_sheet, device_http, settings):
    settings(max_devices_per_user=1)
    phone()
    url = ad.web_sign_in_url(challenge_url(device_http), "alice@example.org")
    page = web_sheet.get(url)
    assert page.status_code == 403 and "You already have 1 enrolled device" in page.text


# Enrolled, and the token on every MDM request ------------------------------------------------


def test_simulated_iphone_enrolls_as_a_user_enrollment_of_the_signed_in_user(app, phone, device_http):
    device, result = phone()
    inventory_round = device.poll(device_http)
    assert inventory_round and {e.status for e in inventory_round} == {"Acknowledged"}
    assert device.poll(device_http) == []
    with app.app_context():
        row = db.session.scalar(db.select(Device))
        user = db.session.scalar(db.select(EndUser).where(EndUser.subject == "demo-alice"))
        assert (row.enrollment_type, row.enrollment_method, row.status) == ("user", "account_driven", "enrolled")
        assert (row.enrollment_id, row.user_id, row.managed_apple_id) == (device.enrollment_id, user.id, "alice@example.org")
        assert row.access_token_hash == ad.hash_access_token(result.access_token)
        token = db.session.scalar(db.select(EnrollmentAccessToken))
        assert token.grant_id == row.grant_id and token.used_at is not None


def test_mdm_requests_need_this_enrollments_token_and_are_refused_with_403(phone, device_http, web_sheet, app):
    first, _ = phone()
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=app.config["PUBLIC_URL"]) as other_sheet:
        second, _ = phone(sheet=other_sheet)
    own_token = first.bearer_token
    for bearer in (second.bearer_token, None, "garbage"):
        first.bearer_token = bearer
        with pytest.raises(SimulatorError, match="answered 403"):
            first.poll(device_http)
        with pytest.raises(SimulatorError, match="answered 403"):
            first.checkin(first.token_update_message(), device_http)
        with app.app_context():
            assert not db.session.scalars(db.select(Command).where(Command.status != "queued")).all(), \
                "a refused Idle hands out nothing"
    first.bearer_token = own_token
    assert {e.status for e in first.poll(device_http)} == {"Acknowledged"}, "its own token still works"
    with app.app_context():
        assert {d.status for d in db.session.scalars(db.select(Device))} == {"enrolled"}, "nothing was unenrolled"


def test_authenticate_with_another_enrollments_token_is_refused(phone, device_http, web_sheet, settings, app):
    other, _ = phone()
    web_sheet.cookies.clear()
    token = token_for(device_http, web_sheet)
    profile = device_http.post("/account-driven/enroll", content=BODY, headers={"Authorization": f"Bearer {token}"})
    device = SimulatedDevice("user", bearer_token=other.bearer_token)
    with pytest.raises(SimulatorError, match="answered 403"):
        device.install_profile(profile.content, device_http)
    device.bearer_token = token
    device.checkin(device.authenticate_message(), device_http)
    device.checkin(device.token_update_message(), device_http)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Device).where(Device.status == "enrolled")) == 2
