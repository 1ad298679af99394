"""A profile User Enrollment forbids is refused whichever way it is queued: one device or bulk."""
import base64
import plistlib

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Command


def _profile(payload_type: str, **keys) -> str:
    profile = {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": "org.example.p",
               "PayloadUUID": "0F3C9E9A-3F7B-4A7F-8A53-63C1E8E4C001", "PayloadDisplayName": "P",
               "PayloadContent": [{"PayloadType": payload_type, "PayloadVersion": 1, "PayloadIdentifier": "org.example.p.1",
                                   "PayloadUUID": "0F3C9E9A-3F7B-4A7F-8A53-63C1E8E4C101", **keys}]}
    return base64.b64encode(plistlib.dumps(profile)).decode()


FULL_VPN = _profile("com.apple.vpn.managed", UserDefinedName="Corp", VPNType="IKEv2")
WEB_CLIP = _profile("com.apple.webClip.managed", URL="https://intranet.example.org", Label="Intranet")


def _queued(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Command).where(Command.request_type == "InstallProfile"))


def test_api_refuses_a_forbidden_profile_for_a_user_enrollment(app, api, seed):
    device_id = seed(1)[0]
    response = api("POST", f"/devices/{device_id}/commands", json={"request_type": "InstallProfile", "Payload": FULL_VPN})
    assert response.status_code == 422
    assert any(p["payload_type"] == "com.apple.vpn.managed" for p in response.json["detail"])
    assert _queued(app) == 0
    allowed = api("POST", f"/devices/{device_id}/commands", json={"request_type": "InstallProfile", "Payload": WEB_CLIP})
    assert allowed.status_code == 201


def test_api_refuses_a_payload_that_is_not_a_profile(app, api, seed):
    device_id = seed(1)[0]
    response = api("POST", f"/devices/{device_id}/commands",
                   json={"request_type": "InstallProfile", "Payload": base64.b64encode(b"not a profile").decode()})
    assert response.status_code == 422
    assert "cannot be read" in str(response.json["detail"])


def test_bulk_refuses_the_forbidden_profile_per_user_enrollment_and_sends_it_to_legacy_devices(app, api, seed):
    users = seed(2)
    legacy = seed(1, enrollment_type="device")
    body = api("POST", "/commands/bulk", json={"request_type": "InstallProfile", "Payload": FULL_VPN,
                                                "device_ids": users + legacy}).json
    statuses = {r["device_id"]: r["status"] for r in body["results"]}
    assert statuses == {users[0]: 422, users[1]: 422, legacy[0]: 201}
    assert _queued(app) == 1
