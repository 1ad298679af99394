"""POST /api/v1/profiles/check: is this profile allowed on a user-enrolled device?"""
import plistlib

import pytest

from mdm_core import cms
from mdm_core.ca import create_ca, create_signing_identity
from tests.helpers import PROFILE_CORPUS


def _profile(*payloads, **top):
    return {"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": "org.example.p",
            "PayloadUUID": "0F3C9E9A-3F7B-4A7F-8A53-63C1E8E4C001", "PayloadDisplayName": "P",
            "PayloadContent": list(payloads), **top}


def _payload(payload_type, uuid_suffix="1", **keys):
    return {"PayloadType": payload_type, "PayloadVersion": 1, "PayloadIdentifier": f"org.example.p.{uuid_suffix}",
            "PayloadUUID": f"0F3C9E9A-3F7B-4A7F-8A53-63C1E8E4C10{uuid_suffix}", **keys}


@pytest.fixture
def check(client, api_token):
    token = api_token(scopes=("read",))

    def post(body: bytes):
        return client.post("/api/v1/profiles/check", data=body, headers={"Authorization": f"Bearer {token}"})

    return post


def test_allowed_profile_is_valid_for_user_enrollment(check):
    body = plistlib.dumps(_profile(_payload("com.apple.webClip.managed", URL="https://intranet.example.org", Label="Intranet")))
    response = check(body)
    assert response.status_code == 200
    assert response.get_json()["valid"] is True
    assert response.get_json()["user_enrollment"] == "allowed"


def test_full_device_vpn_is_forbidden_with_a_precise_problem(check):
    body = plistlib.dumps(_profile(_payload("com.apple.vpn.managed", UserDefinedName="Corp", VPNType="IKEv2")),
                          fmt=plistlib.FMT_BINARY)
    data = check(body).get_json()
    assert data["valid"] is False and data["user_enrollment"] == "forbidden"
    assert any(p["payload_type"] == "com.apple.vpn.managed" and p["severity"] == "error" for p in data["problems"])


def test_forbidden_key_inside_an_allowed_payload_is_named(check):
    body = plistlib.dumps(_profile(_payload("com.apple.wifi.managed", SSID_STR="Corp", ProxyType="Manual")))
    data = check(body).get_json()
    assert data["user_enrollment"] == "forbidden"
    assert any(p["key"] and p["key"].endswith("ProxyType") for p in data["problems"])


def test_payload_removal_disallowed_is_forbidden(check):
    data = check(plistlib.dumps(_profile(PayloadRemovalDisallowed=True))).get_json()
    assert data["user_enrollment"] == "forbidden"


def test_signed_profile_is_unwrapped_and_checked(check):
    ca = create_ca("Test CA", "Test")
    signed = cms.sign(plistlib.dumps(_profile(_payload("com.apple.webClip.managed", URL="https://x.example", Label="X"))),
                      create_signing_identity(ca, "Signer"))
    data = check(signed).get_json()
    assert data["valid"] is True and data["signed"] is True


@pytest.mark.parametrize("body", [b"", b"hello", plistlib.dumps(["not", "a", "dict"]), b"0\x82\x00\x10garbage-der"])
def test_what_is_not_a_profile_gets_400(check, body):
    response = check(body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "not_a_profile"


def test_oversized_upload_gets_413(app, check):
    assert check(b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)).status_code == 413


def test_an_unknown_enrollment_type_gets_400(client, api_token):
    body = plistlib.dumps(_profile(_payload("com.apple.webClip.managed", URL="https://x.example", Label="X")))
    response = client.post("/api/v1/profiles/check?enrollment_type=bogus", data=body,
                           headers={"Authorization": f"Bearer {api_token(scopes=('read',))}"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request" and "enrollment_type" in response.get_json()["detail"]


def _padded_profile(size: int) -> bytes:
    """The corpus's Wi-Fi profile, valid, padded past ``size`` bytes with a long description."""
    data = (PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes()
    padding = b"<key>PayloadDescription</key><string>" + b"x" * size + b"</string>"
    return data.replace(b"<dict>", b"<dict>" + padding, 1)


def test_profiles_check_answers_413_for_a_profile_too_large_to_check(app, api):
    """DESIGN section 6: ``profiles/check`` answers 400/413 for what is not a profile; a profile past the checker's
    1 MiB limit (yet within MAX_CONTENT_LENGTH) is too large, as the library's upload of the same bytes says (413)."""
    body = _padded_profile(1_200_000)
    assert len(body) < app.config["MAX_CONTENT_LENGTH"]
    assert api("POST", "/profiles", data=body).status_code == 413
    response = api("POST", "/profiles/check", data=body)
    assert response.status_code == 413, response.get_json()
    assert set(response.get_json()) == {"error", "detail"}


def test_profiles_check_reads_a_signed_profile_whose_signature_does_not_verify_as_the_library_does(api):
    """The check takes signed profiles and the library's ``problems`` are "as in profiles/check": a signed profile
    whose content was changed is read with a warning by the library (docs/decisions.md), so the check must not call
    the same bytes "not a profile at all" (400)."""
    signer = create_signing_identity(create_ca("Test CA", "Test"), "Signer")
    signed = bytearray(cms.sign((PROFILE_CORPUS / "exchange.mobileconfig").read_bytes(), signer))
    signed[signed.index(b"outlook")] = ord("O")
    uploaded = api("POST", "/profiles", data=bytes(signed))
    assert uploaded.status_code == 201
    checked = api("POST", "/profiles/check", data=bytes(signed))
    assert checked.status_code == 200, checked.get_json()
    assert checked.get_json()["problems"] == uploaded.get_json()["problems"]


def test_an_encrypted_profile_is_checked_as_invalid_where_the_library_refuses_it(api):
    """Encrypted for one device, a profile can be neither checked nor sent to anyone else: the library refuses it
    (422) and the check reports it as an error rather than calling it "not a profile"."""
    body = (PROFILE_CORPUS / "encrypted-payload-content.mobileconfig").read_bytes()
    assert api("POST", "/profiles", data=body).status_code == 422
    for enrollment_type in ("user", "device"):
        checked = api("POST", f"/profiles/check?enrollment_type={enrollment_type}", data=body)
        assert checked.status_code == 200, checked.get_json()
        report = checked.get_json()
        assert report["valid"] is False and report["user_enrollment"] == "forbidden" and report["signed"] is False
        assert [p["severity"] for p in report["problems"]] == ["error"]
        assert "encrypted" in report["problems"][0]["message"]
