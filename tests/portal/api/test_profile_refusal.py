"""A profile User Enrollment forbids is refused whichever way it is queued: one device or bulk."""
import base64
import plistlib

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Command
from tests.helpers import PROFILE_CORPUS, command_count


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


def _flooded() -> bytes:
    """wifi-wpa2 with 250 unknown keys (250 warnings), then a global HTTP proxy (forbidden under User Enrollment):
    the checks stopped at 200 problems and read their verdict from what they had checked, so it was allowed."""
    wifi = plistlib.loads((PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    proxy = plistlib.loads((PROFILE_CORPUS / "global-http-proxy.mobileconfig").read_bytes())
    wifi["PayloadContent"][0].update({f"NoSuchKey{index}": "x" for index in range(250)})
    wifi["PayloadContent"].append(proxy["PayloadContent"][0])
    return plistlib.dumps(wifi)


def test_a_flood_of_warnings_hides_nothing_user_enrollment_forbids(app, api, seed):
    device_id = seed(1)[0]
    checked = api("POST", "/profiles/check", data=_flooded()).json
    assert checked["user_enrollment"] == "forbidden" and "the rest was not checked" in checked["problems"][-1]["message"]
    profile_id = api("POST", "/profiles?name=flood", data=_flooded()).json["id"]
    assert api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True}).status_code == 422
    install = api("POST", f"/devices/{device_id}/commands", json={
        "request_type": "InstallProfile", "Payload": base64.b64encode(_flooded()).decode()})
    assert install.status_code == 422
    queries = [f"NoSuchQuery{index}" for index in range(250)] + ["UDID", "SerialNumber", "IMEI"]
    information = api("POST", f"/devices/{device_id}/commands", json={"request_type": "DeviceInformation",
                                                                      "Queries": queries})
    assert information.status_code == 422
    assert command_count(app) == 0
