import pytest
from cryptography.hazmat.primitives import serialization

from mdm_core import ca, cms, commands, enrollment_profiles
from mdm_core.profile_builders import WiFi, build_profile
from mdm_core.simulator import SimulatedDevice
from mdm_core.simulator.answers import answer


@pytest.fixture(scope="module")
def identity(test_ca):
    return ca.create_signing_identity(test_ca, "device-identity")


@pytest.fixture
def make_device(server, identity):
    def make(enrollment_type="user"):
        device = SimulatedDevice(enrollment_type)
        device.accept_profile(server.profile(enrollment_type))
        device.identity = identity
        return device
    return make


def run(device, command):
    return answer(device, command["RequestType"], command)


def small_profile(identifier="com.example.wifi"):
    return enrollment_profiles.to_bytes({"PayloadType": "Configuration", "PayloadVersion": 1,
                                         "PayloadIdentifier": identifier, "PayloadUUID": "A-1",
                                         "PayloadContent": []})


def test_install_profile_then_profile_list_shows_it(make_device):
    device = make_device()
    assert run(device, commands.install_profile(small_profile())) == ("Acknowledged", {})
    status, result = run(device, commands.profile_list())
    identifiers = [p["PayloadIdentifier"] for p in result["ProfileList"]]
    assert identifiers == [device.enrollment_profile_identifier, "com.example.wifi"]
    assert all(p["PayloadRemovalDisallowed"] is False for p in result["ProfileList"])


def test_install_profile_with_garbage_payload_is_an_error(make_device):
    status, result = run(make_device(), {"RequestType": "InstallProfile", "Payload": b"junk"})
    assert status == "Error" and result["ErrorChain"][0]["ErrorDomain"] == "MCProfileErrorDomain"


def test_remove_profile_removes_it_and_unknown_identifier_is_an_error(make_device):
    device = make_device()
    run(device, commands.install_profile(small_profile()))
    assert run(device, commands.remove_profile("com.example.wifi"))[0] == "Acknowledged"
    assert "com.example.wifi" not in device.profiles
    assert run(device, commands.remove_profile("com.example.wifi"))[0] == "Error"


def test_remove_profile_of_the_enrollment_profile_is_acknowledged_and_starts_unenrolling(make_device):
    device = make_device("device")
    assert run(device, commands.remove_enrollment(device.enrollment_profile_identifier)) == ("Acknowledged", {})
    assert device.unenrolling is True


def test_device_that_keeps_its_enrollment_answers_error_to_its_removal(make_device):
    device = make_device("device")
    device.behaviour.keep_enrollment = True
    status, result = run(device, commands.remove_enrollment(device.enrollment_profile_identifier))
    assert status == "Error" and result["ErrorChain"][0]["ErrorCode"] == 1004
    assert device.unenrolling is False


def test_installed_application_list_shows_only_managed_apps_under_user_enrollment(make_device):
    user, legacy = make_device("user"), make_device("device")
    for device in (user, legacy):
        run(device, commands.build_command("InstallApplication", Identifier="com.example.work"))
    listed = {d.enrollment_type: [a["Identifier"] for a in run(d, {"RequestType": "InstalledApplicationList"})[1]
                                  ["InstalledApplicationList"]] for d in (user, legacy)}
    assert listed["user"] == ["com.example.work"]
    assert set(listed["device"]) == {"com.example.work", "com.example.personal.game", "com.example.personal.chat"}


def test_managed_application_list_and_remove_application(make_device):
    device = make_device()
    run(device, commands.build_command("InstallApplication", Identifier="com.example.work"))
    assert list(run(device, commands.managed_application_list())[1]["ManagedApplicationList"]) == ["com.example.work"]
    assert run(device, commands.remove_application("com.example.work"))[0] == "Acknowledged"
    assert run(device, commands.remove_application("com.example.work"))[0] == "Error"


def test_user_enrollment_refuses_to_take_over_a_personal_app(make_device):
    device = make_device()
    status, result = run(device, {"RequestType": "InstallApplication", "Identifier": "com.example.personal.game"})
    assert status == "Error"
    assert "com.example.personal.game" not in device.managed_apps


def test_security_info_hides_passcode_details_under_user_enrollment(make_device):
    user = run(make_device("user"), commands.security_info())[1]["SecurityInfo"]
    legacy = run(make_device("device"), commands.security_info())[1]["SecurityInfo"]
    assert "PasscodePresent" not in user and legacy["PasscodePresent"] is True
    assert user["ManagementStatus"]["IsUserEnrollment"] is True
    assert legacy["ManagementStatus"]["IsUserEnrollment"] is False


def test_certificate_list_holds_the_device_identity(make_device, identity):
    status, result = run(make_device(), commands.certificate_list())
    (entry,) = result["CertificateList"]
    assert entry["IsIdentity"] is True and entry["CommonName"] == "device-identity"
    assert entry["Data"] == identity.certificate.public_bytes(serialization.Encoding.DER)


def test_device_information_without_queries_is_an_error(make_device):
    assert run(make_device(), {"RequestType": "DeviceInformation"})[0] == "Error"


def built_profile(identifier="com.example.wifi", ssid="Corp"):
    return enrollment_profiles.to_bytes(build_profile(identifier, [WiFi(SSID_STR=ssid)], display_name="Wi-Fi"))


def forbidden_profile(payload_type="com.apple.vpn.managed", **keys):
    return enrollment_profiles.to_bytes({
        "PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": "com.example.forbidden",
        "PayloadUUID": "F-1", "PayloadContent": [{"PayloadType": payload_type, "PayloadVersion": 1,
                                                  "PayloadIdentifier": "com.example.forbidden.p", "PayloadUUID": "F-2",
                                                  **keys}]})


def listed(device):
    return {p["PayloadIdentifier"]: p["PayloadUUID"] for p in run(device, commands.profile_list())[1]["ProfileList"]}


@pytest.mark.parametrize("profile, named", [
    (forbidden_profile(UserDefinedName="VPN", VPNType="IKEv2"), "“com.apple.vpn.managed”"),
    (forbidden_profile("com.apple.proxy.http.global", ProxyType="Auto"), "“com.apple.proxy.http.global”"),
    (forbidden_profile("com.apple.domains", EmailDomains=["example.com"]), "“com.apple.domains”"),
    (forbidden_profile("com.apple.wifi.managed", SSID_STR="Corp", ProxyType="Auto"),
     "“com.apple.wifi.managed” key “ProxyType”"),
])
def test_user_enrolled_phone_refuses_what_user_enrollment_forbids_with_an_error_chain(make_device, profile, named):
    device = make_device("user")
    status, result = run(device, commands.install_profile(profile))
    assert status == "Error"
    outer, inner = result["ErrorChain"]
    assert (outer["ErrorDomain"], outer["ErrorCode"]) == ("MCInstallationErrorDomain", 4001)
    assert (inner["ErrorDomain"], inner["ErrorCode"]) == ("MCInstallationErrorDomain", 4029)
    assert named in inner["USEnglishDescription"] and "User Enrollment" in inner["LocalizedDescription"]
    assert "com.example.forbidden" not in listed(device)


def test_device_enrolled_phone_installs_what_user_enrollment_forbids(make_device):
    device = make_device("device")
    assert run(device, commands.install_profile(forbidden_profile(UserDefinedName="VPN", VPNType="IKEv2")))[0] == \
        "Acknowledged"
    assert "com.example.forbidden" in listed(device)


def test_reinstall_replaces_by_identifier_and_removal_drops_it_from_profile_list(make_device, identity):
    device = make_device("user")
    assert run(device, commands.install_profile(cms.sign(built_profile(ssid="Corp"), identity)))[0] == "Acknowledged"
    first = listed(device)["com.example.wifi"]
    assert run(device, commands.install_profile(built_profile(ssid="Corp-5G")))[0] == "Acknowledged"
    after = listed(device)
    assert list(after) == [device.enrollment_profile_identifier, "com.example.wifi"] and after["com.example.wifi"] != first
    assert device.profiles["com.example.wifi"]["PayloadContent"][0]["SSID_STR"] == "Corp-5G"
    assert run(device, commands.remove_profile("com.example.wifi"))[0] == "Acknowledged"
    assert list(listed(device)) == [device.enrollment_profile_identifier]


def test_a_profile_cannot_replace_the_enrollment_profile(make_device):
    device = make_device("user")
    enrollment = device.profiles[device.enrollment_profile_identifier]
    status, result = run(device, commands.install_profile(built_profile(device.enrollment_profile_identifier)))
    assert status == "Error" and result["ErrorChain"][0]["ErrorCode"] == 4001
    assert device.profiles[device.enrollment_profile_identifier] is enrollment
