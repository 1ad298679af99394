"""A 600-byte binary plist of 10^10 paths (tests/plist_bombs.py) gets each endpoint's answer for a
malformed body at once, unauthenticated or signed: every parse-and-walk path runs the one bounded walk."""
import base64
import io
import time

import pytest
from sqlalchemy import select

from mdm_core import cms
from portal.extensions import db
from portal.models import Command
from portal.settings_store import update_enrollment_settings
from tests.helpers import csrf_token_from
from tests.plist_bombs import PATHS, path_bomb

PROFILE_KEYS = {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": "org.example.bomb",
                "PayloadUUID": "6C3B1A84-8F6B-4E4E-9A55-3C9B0C1C2D11", "PayloadDisplayName": "Bomb"}
REFUSAL = "more than its bytes hold without shared references"


@pytest.fixture
def quickly():
    """Run a request and check it cost well under a second of CPU (the old walk never finished)."""
    def run(send):
        started = time.process_time()
        response = send()
        assert time.process_time() - started < 2
        return response

    return run


def test_the_bomb_is_small_and_has_ten_billion_paths():
    assert len(path_bomb(PROFILE_KEYS)) < 1000 and PATHS == 10 ** 10


def test_account_driven_enrollment_refuses_it_without_credentials(app, device_http, quickly):
    with app.app_context():
        update_enrollment_settings({"account_driven_enabled": True, "managed_domains": ["example.org"]})
        db.session.commit()
    body = path_bomb({"LANGUAGE": "en-US", "PRODUCT": "iPhone17,2", "VERSION": "22B83"})
    response = quickly(lambda: device_http.post("/account-driven/enroll", content=body,
                                                headers={"Content-Type": "application/xml"}))
    assert response.status_code == 400 and REFUSAL in response.text


def _signed(identity, body, content_type):
    signature = base64.b64encode(cms.sign(body, identity, detached=True)).decode()
    return {"Content-Type": content_type, "Mdm-Signature": signature}


def test_the_command_connection_refuses_it_signed(enroll, device_http, quickly):
    phone = enroll()
    body = path_bomb({"Status": "Idle", "EnrollmentID": phone.enrollment_id})
    response = quickly(lambda: device_http.put("/mdm/connect", content=body,
                                               headers=_signed(phone.identity, body, "application/x-apple-aspen-mdm")))
    assert response.status_code == 400 and REFUSAL in response.text


def test_check_in_refuses_it_signed(enroll, device_http, quickly):
    phone = enroll()
    body = path_bomb(phone.token_update_message())
    response = quickly(lambda: device_http.put(
        "/mdm/checkin", content=body, headers=_signed(phone.identity, body, "application/x-apple-aspen-mdm-checkin")))
    assert response.status_code == 400 and REFUSAL in response.text


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_the_profile_check_api_refuses_it(app, api, quickly, signed):
    body = path_bomb(PROFILE_KEYS, key="PayloadContent")
    if signed:
        from portal.pki import profile_signer

        with app.app_context():
            body = cms.sign(body, profile_signer())
    response = quickly(lambda: api("POST", "/profiles/check", data=body))
    assert response.status_code == 400, response.data
    assert response.json["error"] == "not_a_profile" and REFUSAL in response.json["detail"]


def test_an_install_profile_command_from_the_api_refuses_it(app, api, seed, quickly):
    [device_id] = seed(1)
    payload = base64.b64encode(path_bomb(PROFILE_KEYS, key="PayloadContent")).decode()
    response = quickly(lambda: api("POST", f"/devices/{device_id}/commands",
                                   json={"request_type": "InstallProfile", "Payload": payload}))
    assert response.status_code == 422 and REFUSAL in str(response.json["detail"])


def test_the_admin_profile_upload_refuses_it(app, admin_client, seed, quickly):
    [device_id] = seed(1)
    page = admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True)
    data = {"csrf_token": csrf_token_from(page), "request_type": "InstallProfile",
            "profile": (io.BytesIO(path_bomb(PROFILE_KEYS, key="PayloadContent")), "bomb.mobileconfig")}
    response = quickly(lambda: admin_client.post(f"/admin/devices/{device_id}/commands", data=data,
                                                 content_type="multipart/form-data"))
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Command)).all() == []
    assert REFUSAL in admin_client.get(f"/admin/devices/{device_id}").get_data(as_text=True)
