"""The identifier typed in Settings need not be the Managed Apple Account itself.

Apple, "Implementing the simple authentication account-driven enrollment flow", Step 13 ("Validate the
enrollment profile"): "The device management service needs to maintain the mapping between the user
identifier that starts the enrollment flow and the assigned Managed Apple Account associated with that
user. For federated Managed Apple Accounts, the two identifiers are the same." Apple's own example types
``user01@example.com`` and gets ``AssignedManagedAppleID`` ``user01@appleid.example.com`` (the
``appleid.`` subdomain is Apple's usual domain for non-federated accounts). Here the person's Managed
Apple ID comes from ``OIDC_MANAGED_APPLE_ID_CLAIM`` and their e-mail from the IdP, so the portal has the
mapping: a person who types their work e-mail must get a token, and a profile naming their Managed
Apple ID.
"""
from __future__ import annotations

import httpx
import pytest

from mdm_core import account_driven as ad
from mdm_core import cms, plist
from mdm_core.simulator.web_sign_in import FormWalker
from portal.extensions import db
from portal.models import EndUser
from portal.settings_store import update_enrollment_settings

ALICE = {"user": "demo-alice", "action": "sign_in", "acknowledge": "yes"}
BODY = ad.request_body("en-US", "iPhone17,2", "22B83")
MANAGED_APPLE_ID = "alice@appleid.example.org"


@pytest.fixture
def web_sheet(app):
    with app.app_context():
        update_enrollment_settings({"account_driven_enabled": True,
                                    "managed_domains": ["example.org", "appleid.example.org"]})
        db.session.commit()
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=app.config["PUBLIC_URL"]) as sheet:
        yield sheet


def _sign_in_url(device_http, typed: str) -> str:
    response = device_http.post("/account-driven/enroll", content=BODY)
    assert response.status_code == 401
    return ad.web_sign_in_url(ad.parse_challenge(response.headers["WWW-Authenticate"]).url, typed)


def test_typing_the_work_email_of_a_non_federated_managed_apple_id_enrolls(app, device_http, web_sheet):
    discovery = device_http.get("/.well-known/com.apple.remotemanagement",
                                params={"user-identifier": "alice@example.org", "model-family": "iPhone"})
    assert discovery.status_code == 200
    FormWalker(web_sheet, ALICE)(_sign_in_url(device_http, "alice@example.org"))  # signed in, notice acknowledged
    with app.app_context():  # the IdP's Managed Apple ID claim names the appleid. account, e-mail the work address
        user = db.session.scalar(db.select(EndUser).where(EndUser.subject == "demo-alice"))
        assert user.email == "alice@example.org"
        user.managed_apple_id = MANAGED_APPLE_ID
        db.session.commit()
    page = web_sheet.get(_sign_in_url(device_http, "alice@example.org"))
    assert page.status_code == 308, f"{page.status_code}: the typed work e-mail was not mapped to {MANAGED_APPLE_ID}"
    token = ad.access_token_from_callback(page.headers["Location"])
    response = device_http.post("/account-driven/enroll", content=BODY, headers={"Authorization": f"Bearer {token}"})
    mdm = next(p for p in plist.loads(cms.verify(response.content).content)["PayloadContent"]
               if p["PayloadType"] == "com.apple.mdm")
    assert mdm["AssignedManagedAppleID"] == MANAGED_APPLE_ID


def test_typing_an_address_that_is_neither_the_account_nor_the_persons_email_is_refused(app, device_http, web_sheet):
    FormWalker(web_sheet, ALICE)(_sign_in_url(device_http, "alice@example.org"))
    with app.app_context():
        user = db.session.scalar(db.select(EndUser).where(EndUser.subject == "demo-alice"))
        user.managed_apple_id = MANAGED_APPLE_ID
        db.session.commit()
    for typed in ("carol@example.org", "alice@appleid.example.org.evil.example"):
        page = web_sheet.get(_sign_in_url(device_http, typed))
        assert page.status_code == 403, typed
        assert f"You signed in as {MANAGED_APPLE_ID}, but this device is enrolling {typed}" in page.text
