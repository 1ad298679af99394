"""The default privacy disclosure promises only what Apple's User Enrollment tables enforce."""
import pytest

from mdm_core.capabilities import allowed_device_information_queries, is_command_allowed
from portal.settings_store import DEFAULT_PRIVACY_DISCLOSURE

CANNOT = DEFAULT_PRIVACY_DISCLOSURE.split("**IT cannot:**")[1]
CAN = DEFAULT_PRIVACY_DISCLOSURE.split("**IT can:**")[1].split("**IT cannot:**")[0]


@pytest.mark.parametrize(("promise", "request_type"), [
    ("erase your device", "EraseDevice"),
    ("clear or reset its passcode", "ClearPasscode"),
    ("Lost Mode", "EnableLostMode"),
    ("restart it", "RestartDevice"),
])
def test_every_cannot_is_a_command_user_enrollment_forbids(promise, request_type):
    assert promise in CANNOT
    assert not is_command_allowed(request_type, "user")


def test_what_it_can_do_is_allowed():
    assert "lock the screen" in CAN and is_command_allowed("DeviceLock", "user")
    assert "install and remove the apps" in CAN and is_command_allowed("InstallApplication", "user")


def test_hardware_identifiers_are_not_queryable():
    assert "serial number, phone number" in CANNOT
    allowed = set(allowed_device_information_queries("user"))
    assert not allowed & {"SerialNumber", "PhoneNumber", "UDID", "IMEI", "MEID", "WiFiMAC", "BluetoothMAC"}
