"""The simulated phone's managed apps: Volume Purchase installs checked against the Apps and Books
stand-in's licenses, the install states, configuration through Settings, removal, and unenroll."""
from __future__ import annotations

import plistlib

import pytest

from mdm_core import ca, commands
from mdm_core.simulator import Behaviour, SimulatedDevice
from mdm_core.simulator.answers import answer
from mdm_core.simulator.apps import store_bundle_id
from mdm_core.vpp.client import VppClient

ADAM_ID = 361309726
BUNDLE = store_bundle_id(ADAM_ID)
APPLE_ID = "ana@example.com"  # the ManagedAppleID of the test server's user-enrollment profile


@pytest.fixture(scope="module")
def identity(test_ca):
    return ca.create_signing_identity(test_ca, "device-identity")


@pytest.fixture
def make_device(server, identity):
    def make(enrollment_type="user", **kwargs):
        device = SimulatedDevice(enrollment_type, **kwargs)
        device.accept_profile(server.profile(enrollment_type))
        device.identity = identity
        return device
    return make


@pytest.fixture
def licensed(vpp_standin):
    """The stand-in with the app, Ana registered, and ``grant()`` to give her a license."""
    vpp_standin.state.add_asset(str(ADAM_ID), total_count=5)
    client = VppClient(vpp_standin.url, vpp_standin.stoken, ca_bundle=vpp_standin.ca_bundle, poll_interval=0.01)
    client.wait_for_event(client.create_users([{"clientUserId": "ana", "managedAppleId": APPLE_ID}]))

    def grant():
        assert client.wait_for_event(client.associate_assets([(str(ADAM_ID), "STDQ")], ["ana"])).status == "COMPLETE"
    vpp_standin.grant = grant
    yield vpp_standin
    client.close()


def run(device, command):
    return answer(device, command["RequestType"], command)


def vpp_install(**keys):
    return commands.install_application(itunes_store_id=ADAM_ID, purchase_method=1, **keys)


def listed(device):
    status, result = run(device, commands.managed_application_list())
    assert status == "Acknowledged"
    return result["ManagedApplicationList"]


def test_the_phone_knows_its_managed_apple_id_from_the_enrollment_profile(make_device):
    assert make_device().managed_apple_id == APPLE_ID
    assert make_device(apple_account="bob@example.com").managed_apple_id == "bob@example.com"


def test_a_store_app_without_a_license_for_the_user_is_refused(make_device, licensed):
    device = make_device(license_check=licensed.state.holds_license)
    status, result = run(device, vpp_install())
    assert status == "Error"
    assert [(e["ErrorDomain"], e["ErrorCode"]) for e in result["ErrorChain"]] == [
        ("MCMDMErrorDomain", 12024), ("ASDErrorDomain", 9610)]
    assert device.apps == {} and listed(device) == {}


def test_a_licensed_store_app_goes_prompting_installing_managed(make_device, licensed):
    licensed.grant()
    device = make_device(license_check=licensed.state.holds_license)
    status, result = run(device, vpp_install(configuration={"ServerURL": "https://mail.example.com"}))
    assert (status, result) == ("Acknowledged", {"Identifier": BUNDLE, "State": "Prompting"})
    assert BUNDLE not in device.managed_apps
    assert listed(device)[BUNDLE]["Status"] == "Installing"
    entry = listed(device)[BUNDLE]
    assert entry == {"Status": "Managed", "ManagementFlags": 1, "HasConfiguration": True, "HasFeedback": False,
                     "IsValidated": True, "ExternalVersionIdentifier": 1}
    installed = run(device, {"RequestType": "InstalledApplicationList"})[1]["InstalledApplicationList"]
    assert [a["Identifier"] for a in installed] == [BUNDLE]


def test_under_user_enrollment_a_store_app_needs_a_volume_purchase_assignment(make_device):
    status, result = run(make_device(), commands.install_application(itunes_store_id=ADAM_ID))
    assert status == "Error" and "PurchaseMethod 1" in result["ErrorChain"][0]["LocalizedDescription"]
    assert run(make_device("device"), commands.install_application(itunes_store_id=ADAM_ID))[0] == "Acknowledged"


def test_the_user_who_cancels_the_prompt_is_reported_once_as_user_rejected(make_device):
    device = make_device(behaviour=Behaviour(rejects_apps=True))
    run(device, vpp_install())
    assert listed(device)[BUNDLE]["Status"] == "UserRejected"
    assert listed(device) == {} and device.managed_apps == {}


def test_settings_application_configuration_is_stored_reported_and_removed(make_device):
    device = make_device()
    run(device, vpp_install())
    listed(device), listed(device)
    config = {"Identifier": BUNDLE, "Item": "ApplicationConfiguration", "Configuration": {"user": "ana"}}
    status, result = run(device, {"RequestType": "Settings", "Settings": [
        config, {"Item": "ApplicationConfiguration", "Identifier": "com.example.missing", "Configuration": {}}]})
    assert status == "Acknowledged"
    assert [s["Status"] for s in result["Settings"]] == ["Acknowledged", "Error"]
    query = {"RequestType": "ManagedApplicationConfiguration", "Identifiers": [BUNDLE]}
    assert run(device, query)[1] == {"ApplicationConfigurations": [{"Identifier": BUNDLE,
                                                                     "Configuration": {"user": "ana"}}]}
    assert listed(device)[BUNDLE]["HasConfiguration"] is True
    run(device, {"RequestType": "Settings", "Settings": [{"Item": "ApplicationConfiguration", "Identifier": BUNDLE}]})
    assert run(device, query)[1] == {"ApplicationConfigurations": [{"Identifier": BUNDLE}]}
    assert listed(device)[BUNDLE]["HasConfiguration"] is False


def test_per_app_vpn_attributes_are_kept_and_reported(make_device):
    device = make_device()
    run(device, {**vpp_install(), "Attributes": {"VPNUUID": "VPN-1"}})
    status, result = run(device, {"RequestType": "ManagedApplicationAttributes", "Identifiers": [BUNDLE]})
    assert result == {"ApplicationAttributes": [{"Identifier": BUNDLE, "Attributes": {"VPNUUID": "VPN-1"}}]}


def test_remove_application_removes_the_app_and_its_configuration(make_device):
    device = make_device()
    run(device, vpp_install(configuration={"a": 1}))
    assert run(device, commands.remove_application(BUNDLE)) == ("Acknowledged", {})
    assert device.apps == {} and listed(device) == {}
    assert run(device, commands.remove_application(BUNDLE))[0] == "Error"


def test_in_house_app_by_manifest_needs_https_and_reads_the_bundle_id(make_device):
    manifest = plistlib.dumps({"items": [{"assets": [], "metadata": {"bundle-identifier": "com.corp.tool"}}]})
    device = make_device(fetch_manifest=lambda url: manifest)
    assert run(device, commands.install_application(manifest_url="https://apps.example.com/tool.plist")) == (
        "Acknowledged", {"Identifier": "com.corp.tool", "State": "Prompting"})
    for url in ("http://apps.example.com/x.plist", "https://[::1"):
        assert run(device, {"RequestType": "InstallApplication", "ManifestURL": url})[0] == "Error"
    broken = make_device(fetch_manifest=lambda url: b"not a plist")
    assert run(broken, commands.install_application(manifest_url="https://apps.example.com/x.plist"))[0] == "Error"


def test_user_enrollment_never_runs_what_it_forbids(make_device):
    device = make_device()
    run(device, {"RequestType": "InstallApplication", "Identifier": "com.example.work"})
    takeover = {"RequestType": "InstallApplication", "Identifier": "com.example.personal.chat",
                "ChangeManagementState": "Managed"}
    assert run(device, takeover)[0] == "Error" and "com.example.personal.chat" not in device.apps
    status, result = run(device, {"RequestType": "EraseDevice", "PIN": "123456"})
    assert status == "Error" and "User Enrollment" in result["ErrorChain"][0]["LocalizedDescription"]
    assert device.managed_apps == {"com.example.work": "Work"}


def test_managed_apps_leave_with_the_enrollment(server, http, identity):
    device = SimulatedDevice("user")
    device.install_profile(server.profile("user"), http)
    server.enqueue(device.identifier, vpp_install(configuration={"k": "v"}))
    server.enqueue(device.identifier, commands.managed_application_list())
    server.enqueue(device.identifier, commands.remove_enrollment(device.enrollment_profile_identifier))
    assert [e.status for e in device.poll(http)] == ["Acknowledged"] * 3
    assert device.settings is None and device.apps == {} and device.managed_apps == {}
