"""A library profile whose SCEP payload asks for a user identity from this server gets, on each device,
the identity endpoint's URL and a one-time challenge of that device's own."""
import plistlib
import uuid

from mdm_core.user_identity import SCEP_URL_MARKER
from portal.user_identities import consume_identity_challenge, identity_scep_url

IDENTIFIER = "com.example.wifi.eap-tls"


def _profile_asking_for_a_user_identity() -> bytes:
    scep = {"PayloadType": "com.apple.security.scep", "PayloadVersion": 1, "PayloadIdentifier": f"{IDENTIFIER}.scep",
            "PayloadUUID": str(uuid.uuid4()).upper(), "PayloadDisplayName": "Wi-Fi identity",
            "PayloadContent": {"URL": SCEP_URL_MARKER, "Name": "user-identity", "Keysize": 2048,
                               "Subject": [[["CN", "$MANAGED_APPLE_ID"]]]}}
    return plistlib.dumps({"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": IDENTIFIER,
                           "PayloadUUID": str(uuid.uuid4()).upper(), "PayloadDisplayName": "Wi-Fi (EAP-TLS)",
                           "PayloadContent": [scep]})


def test_each_device_gets_the_identity_endpoint_and_a_challenge_of_its_own(app, api, enroll, device_http, upload,
                                                                            device_id):
    profile_id = upload(_profile_asking_for_a_user_identity())
    assert api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True}).status_code == 200
    alice, bob = enroll("user", "alice@example.org"), enroll("user", "bob@example.org")
    payloads = {}
    for phone in (alice, bob):
        phone.poll(device_http)
        payloads[phone.identifier] = phone.profiles[IDENTIFIER]["PayloadContent"][0]["PayloadContent"]
        with app.app_context():
            assert payloads[phone.identifier]["URL"] == identity_scep_url(device_id(phone))
    assert payloads[alice.identifier]["Challenge"] != payloads[bob.identifier]["Challenge"]
    with app.app_context():
        assert consume_identity_challenge(device_id(bob), payloads[alice.identifier]["Challenge"]) is None, "another device's"
        assert consume_identity_challenge(device_id(alice), payloads[alice.identifier]["Challenge"]) is not None
        assert consume_identity_challenge(device_id(alice), payloads[alice.identifier]["Challenge"]) is None, "used once"
