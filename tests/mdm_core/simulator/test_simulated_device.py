import plistlib

import pytest

from mdm_core import ca, cms, commands, enrollment_profiles
from mdm_core.simulator import Behaviour, SimulatedDevice, SimulatorError, read_enrollment_profile


def enrolled(server, http, enrollment_type="user", **kwargs):
    device = SimulatedDevice(enrollment_type, **kwargs)
    device.install_profile(server.profile(enrollment_type), http)
    return device


def test_user_device_enrolls_over_scep_then_sends_authenticate_and_token_update(server, http):
    device = enrolled(server, http)
    authenticate, token_update = server.checkins
    assert (authenticate.message_type, token_update.message_type) == ("Authenticate", "TokenUpdate")
    assert authenticate.enrollment_type == "user"
    assert authenticate.identifier == token_update.identifier == device.enrollment_id
    assert token_update.token == device.push_token.hex() and len(device.push_token) == 32
    assert token_update.push_magic == device.push_magic
    assert authenticate.dropped_keys == token_update.dropped_keys == ()
    assert device.identity.certificate.issuer == server.ca.certificate.subject


def test_checkin_requests_carry_apples_headers_and_no_hardware_identifiers(server, http):
    device = enrolled(server, http)
    for request in server.requests[-2:]:
        assert request.method == "PUT"
        assert request.headers["Content-Type"] == "application/x-apple-aspen-mdm-checkin"
        assert request.headers["User-Agent"] == "MDM/1.0"
        assert "Authorization" not in request.headers
        body = plistlib.loads(request.content)
        assert body["EnrollmentID"] == device.enrollment_id
        assert not {"UDID", "SerialNumber", "IMEI", "MEID", "UnlockToken"} & body.keys()


def test_enrollment_id_is_stable_per_enrollment_and_new_on_reenrollment(server, http):
    device = enrolled(server, http)
    first = device.enrollment_id
    device.poll(http)
    assert device.enrollment_id == first
    device.install_profile(server.profile("user"), http)
    assert device.enrollment_id != first


def test_device_enrollment_uses_udid_and_reports_serial(server, http):
    device = enrolled(server, http, "device")
    authenticate = server.checkins[0]
    assert (authenticate.enrollment_type, authenticate.identifier) == ("device", device.udid)
    assert authenticate.serial_number == device.serial_number


def test_hostile_user_device_volunteers_identifiers_and_the_parser_drops_them(server, http):
    enrolled(server, http, behaviour=Behaviour(hostile=True))
    authenticate, token_update = server.checkins
    assert set(authenticate.dropped_keys) == {"SerialNumber", "IMEI"}
    assert authenticate.serial_number is None and authenticate.imei is None
    assert token_update.dropped_keys == ("UnlockToken",)


def test_poll_with_empty_queue_sends_one_idle(server, http):
    device = enrolled(server, http)
    assert device.poll(http) == []
    request = server.requests[-1]
    assert request.headers["Content-Type"] == "application/x-apple-aspen-mdm"
    assert plistlib.loads(request.content) == {"Status": "Idle", "EnrollmentID": device.enrollment_id}


def test_poll_answers_every_queued_command_until_the_queue_is_empty(server, http):
    device = enrolled(server, http)
    queued = [server.enqueue(device.identifier, c) for c in (commands.profile_list(), commands.security_info())]
    exchanges = device.poll(http)
    assert [(e.request_type, e.status) for e in exchanges] == [("ProfileList", "Acknowledged"),
                                                               ("SecurityInfo", "Acknowledged")]
    assert [c.status for c in queued] == ["acknowledged", "acknowledged"]
    assert queued[1].report["SecurityInfo"]["ManagementStatus"]["IsUserEnrollment"] is True


def test_user_device_information_reports_only_allowed_queried_keys(server, http):
    device = enrolled(server, http)
    queued = server.enqueue(device.identifier, commands.build_command(
        "DeviceInformation", Queries=["OSVersion", "ProductName", "SerialNumber", "UDID", "IMEI"]))
    device.poll(http)
    assert queued.report["QueryResponses"] == {"OSVersion": device.os_version, "ProductName": device.product_name}


def test_device_enrollment_information_includes_hardware_identifiers(server, http):
    device = enrolled(server, http, "device")
    queued = server.enqueue(device.identifier, commands.build_command("DeviceInformation", Queries=["SerialNumber", "UDID"]))
    device.poll(http)
    assert queued.report["QueryResponses"] == {"SerialNumber": device.serial_number, "UDID": device.udid}


def test_hostile_user_device_information_adds_forbidden_identifiers(server, http):
    device = enrolled(server, http, behaviour=Behaviour(hostile=True))
    queued = server.enqueue(device.identifier, commands.build_command("DeviceInformation", Queries=["OSVersion"]))
    device.poll(http)
    responses = queued.report["QueryResponses"]
    assert responses["SerialNumber"] == device.serial_number and responses["UDID"] == device.udid
    assert "IMEI" in responses


def test_not_now_command_is_retried_on_the_next_poll(server, http):
    device = enrolled(server, http, behaviour=Behaviour(not_now_first=1))
    queued = server.enqueue(device.identifier, commands.profile_list())
    assert [e.status for e in device.poll(http)] == ["NotNow"]
    assert queued.status == "not_now"
    assert [e.status for e in device.poll(http)] == ["Acknowledged"]
    assert queued.status == "acknowledged"


def test_unknown_command_is_answered_with_an_error_chain(server, http):
    device = enrolled(server, http)
    queued = server.enqueue(device.identifier, {"RequestType": "EraseDevice"})
    assert [e.status for e in device.poll(http)] == ["Error"]
    assert queued.report["ErrorChain"][0]["ErrorDomain"] == "MCMDMErrorDomain"


def test_bearer_token_is_sent_on_every_mdm_request(server, http):
    device = SimulatedDevice("user", bearer_token="tok-123")
    device.install_profile(server.profile("user"), http)
    device.poll(http)
    mdm_requests = [r for r in server.requests if r.url.path.startswith("/mdm/")]
    assert len(mdm_requests) == 3
    assert all(r.headers["Authorization"] == "Bearer tok-123" for r in mdm_requests)


def test_checkout_tells_the_server_and_forgets_the_enrollment(server, http):
    device = enrolled(server, http)
    enrollment_id = device.enrollment_id
    device.checkout(http)
    assert (server.checkins[-1].message_type, server.checkins[-1].identifier) == ("CheckOut", enrollment_id)
    assert device.settings is None and device.identity is None
    with pytest.raises(SimulatorError):
        device.poll(http)


def test_removal_of_the_enrollment_profile_is_acknowledged_then_checked_out(server, http):
    device = enrolled(server, http, "device")
    udid = device.udid
    removal = server.enqueue(udid, commands.remove_enrollment(device.enrollment_profile_identifier))
    later = server.enqueue(udid, commands.profile_list())
    exchanges = device.poll(http)
    assert [(e.request_type, e.status) for e in exchanges] == [("RemoveProfile", "Acknowledged")]
    assert removal.status == "acknowledged" and later.status != "acknowledged"
    assert (server.checkins[-1].message_type, server.checkins[-1].identifier) == ("CheckOut", udid)
    assert device.settings is None and device.unenrolling is False


def test_refused_request_raises_simulator_error_with_the_status(server, http):
    device = SimulatedDevice("user")
    device.accept_profile(server.profile("user"))
    device.identity = ca.create_signing_identity(ca.create_ca("Other CA", "Elsewhere"), "not issued by the server")
    with pytest.raises(SimulatorError, match="403"):
        device.poll(http)


def test_signed_profile_is_unwrapped(server, test_ca):
    signer = ca.create_signing_identity(test_ca, "Profile Signer")
    settings = read_enrollment_profile(cms.sign(server.profile("user"), signer))
    assert settings.server_url == "https://mdm.test/mdm/connect"
    assert settings.checkin_url == "https://mdm.test/mdm/checkin"
    assert settings.sign_message and settings.checkout_when_removed


def test_pkcs12_identity_from_the_profile_needs_no_scep(server, http, test_ca):
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    identity = ca.create_signing_identity(test_ca, "bundled identity")
    bundle = pkcs12.serialize_key_and_certificates(b"id", identity.private_key, identity.certificate, None,
                                                   BestAvailableEncryption(b"pw"))
    spec = enrollment_profiles.EnrollmentProfileSpec(organization="Test Org", public_url="https://mdm.test",
                                                     topic=server.topic, identity_kind="pkcs12",
                                                     pkcs12=bundle, pkcs12_password="pw")
    profile = enrollment_profiles.to_bytes(enrollment_profiles.build_profile_driven_user_enrollment_profile(
        spec, "ana@example.com"))
    device = SimulatedDevice("user", scep_enroll=lambda *a, **k: pytest.fail("SCEP must not be used"))
    device.install_profile(profile, http)
    assert device.identity.certificate == identity.certificate
    assert [c.message_type for c in server.checkins] == ["Authenticate", "TokenUpdate"]


def test_given_scep_key_is_the_one_enrolled_and_signed_with(server, http):
    key = ca.create_ca("Key Donor", "Test Org").private_key
    device = enrolled(server, http, scep_key=key)
    assert device.identity.private_key is key
    assert device.identity.certificate.public_key().public_numbers() == key.public_key().public_numbers()
    device.poll(http)
    assert server.reports[-1].status == "Idle", "a body signed with the given key is accepted"
