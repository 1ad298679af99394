import plistlib
from pathlib import Path

import pytest
import yaml

from mdm_core.checkin import CheckinError, UnsupportedCheckinMessage, parse_checkin

SCHEMA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "apple-device-management" / "mdm" / "checkin"
ENROLLMENT_ID = "FB833D84-5D2C-4C3E-9A4B-2B1D3C4E5F60"
UDID = "00008030-001A2B3C4D5E6F70"
TOPIC = "com.apple.mgmt.External.1b3e5a9c-1111-2222-3333-444455556666"
TOKEN = bytes(range(32))

# A real ADUE Authenticate (reference, section 3.3) and its companions.
USER_AUTHENTICATE = {
    "MessageType": "Authenticate",
    "Topic": TOPIC,
    "EnrollmentID": ENROLLMENT_ID,
    "OSVersion": "17.5.1",
    "BuildVersion": "21F90",
    "ProductName": "iPhone12,1",
}
USER_TOKEN_UPDATE = {
    "MessageType": "TokenUpdate",
    "Topic": TOPIC,
    "EnrollmentID": ENROLLMENT_ID,
    "Token": TOKEN,
    "PushMagic": "2D0D5B0B-6E55-4A43-A0E1-5B6A9B0F3C11",
    "AwaitingConfiguration": False,
}
DEVICE_AUTHENTICATE = {
    "MessageType": "Authenticate",
    "Topic": TOPIC,
    "UDID": UDID,
    "OSVersion": "16.7",
    "BuildVersion": "20H19",
    "ProductName": "iPhone10,4",
    "SerialNumber": "F17XK0ABCDEF",
    "IMEI": "35 123456 789012 3",
}


def body(message, fmt=plistlib.FMT_XML):
    return plistlib.dumps(message, fmt=fmt)


def changed(message, **changes):
    result = dict(message)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def test_user_authenticate_is_keyed_on_enrollment_id():
    message = parse_checkin(body(USER_AUTHENTICATE))
    assert message.message_type == "Authenticate"
    assert (message.enrollment_type, message.identifier) == ("user", ENROLLMENT_ID)
    assert message.topic == TOPIC
    assert (message.os_version, message.build_version, message.product_name) == ("17.5.1", "21F90", "iPhone12,1")
    assert message.model is None and message.device_name is None
    assert message.dropped_keys == ()


def test_binary_plist_is_accepted():
    assert parse_checkin(body(USER_AUTHENTICATE, plistlib.FMT_BINARY)).identifier == ENROLLMENT_ID


def test_token_update_gives_hex_token_and_push_magic():
    message = parse_checkin(body(USER_TOKEN_UPDATE))
    assert message.token == TOKEN.hex()
    assert message.push_magic == USER_TOKEN_UPDATE["PushMagic"]
    assert message.awaiting_configuration is False


def test_device_authenticate_keeps_hardware_identifiers():
    message = parse_checkin(body(DEVICE_AUTHENTICATE))
    assert (message.enrollment_type, message.identifier) == ("device", UDID)
    assert message.serial_number == "F17XK0ABCDEF"
    assert message.imei == "35 123456 789012 3"


def test_user_enrollment_drops_hardware_identifiers_a_device_should_not_send():
    hostile = changed(USER_AUTHENTICATE, SerialNumber="F17XK0ABCDEF", IMEI="35 1", MEID="A1")
    message = parse_checkin(body(hostile))
    assert message.serial_number is None and message.imei is None and message.meid is None
    assert message.dropped_keys == ("IMEI", "MEID", "SerialNumber")


def test_user_token_update_drops_unlock_token():
    message = parse_checkin(body(changed(USER_TOKEN_UPDATE, UnlockToken=b"secret")))
    assert message.dropped_keys == ("UnlockToken",)
    assert "secret" not in repr(message)


def test_checkout_needs_only_topic_and_identifier():
    message = parse_checkin(body({"MessageType": "CheckOut", "Topic": TOPIC, "EnrollmentID": ENROLLMENT_ID}))
    assert (message.message_type, message.identifier, message.topic) == ("CheckOut", ENROLLMENT_ID, TOPIC)


def test_message_with_both_enrollment_id_and_udid_is_refused():
    with pytest.raises(CheckinError, match="both"):
        parse_checkin(body(changed(USER_AUTHENTICATE, UDID=UDID)))


def test_message_with_neither_identifier_is_refused():
    with pytest.raises(CheckinError, match="neither"):
        parse_checkin(body(changed(USER_AUTHENTICATE, EnrollmentID=None)))


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (changed(USER_TOKEN_UPDATE, Token=None), "requires Token"),
        (changed(USER_TOKEN_UPDATE, PushMagic=None), "requires PushMagic"),
        (changed(USER_AUTHENTICATE, Topic=None), "requires Topic"),
        (changed(USER_TOKEN_UPDATE, Token=TOKEN.hex()), "Token must be a <data>"),
        (changed(USER_TOKEN_UPDATE, Token=b""), "Token must hold"),
        (changed(USER_TOKEN_UPDATE, PushMagic=b"magic"), "PushMagic must be a <string>"),
        (changed(USER_TOKEN_UPDATE, AwaitingConfiguration=0), "AwaitingConfiguration must be a <boolean>"),
        (changed(USER_AUTHENTICATE, Topic=42), "Topic must be a <string>"),
        (changed(USER_AUTHENTICATE, EnrollmentID=7), "EnrollmentID must be a <string>"),
        (changed(USER_AUTHENTICATE, EnrollmentID="  "), "EnrollmentID is empty"),
        (changed(USER_AUTHENTICATE, OSVersion="9" * 5000), "longer than"),
        (changed(USER_AUTHENTICATE, MessageType=None), "MessageType"),
        (changed(USER_AUTHENTICATE, MessageType="Hello"), "unknown check-in message type"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(message, error):
    with pytest.raises(CheckinError, match=error):
        parse_checkin(body(message))


@pytest.mark.parametrize(
    "message_type",
    ["GetToken", "UserAuthenticate", "SetBootstrapToken", "GetBootstrapToken"],
)
def test_recognised_but_unsupported_types_say_so(message_type):
    with pytest.raises(UnsupportedCheckinMessage, match="not supported") as caught:
        parse_checkin(body({"MessageType": message_type, "EnrollmentID": ENROLLMENT_ID}))
    assert caught.value.message_type == message_type


@pytest.mark.parametrize(
    "raw",
    [b"", b"not a plist", b"<?xml version='1.0'?><plist><array/></plist>", b"bplist00\xff\xff", b"\x00" * 20],
)
def test_garbage_bodies_raise_checkin_error(raw):
    with pytest.raises(CheckinError):
        parse_checkin(raw)


@pytest.mark.parametrize("schema_file", ["authenticate.yaml", "tokenupdate.yaml", "checkout.yaml"])
def test_keys_read_by_the_parser_exist_in_apples_checkin_schema(schema_file):
    from mdm_core.checkin import _KEYS

    path = SCHEMA_DIR / schema_file
    if not path.exists():
        pytest.skip("Apple's schema (../shared) is not available")
    schema = yaml.safe_load(path.read_text())
    types = {k["key"]: k["type"] for k in schema["payloadkeys"]}
    read = _KEYS[schema["payload"]["requesttype"]]
    plist_names = {str: "<string>", bytes: "<data>", bool: "<boolean>"}
    for key, (python_type, _required) in read.items():
        assert types.get(key) == plist_names[python_type], key


@pytest.mark.parametrize(("key", "value", "message"), [
    ("OSVersion", "1" * 41, "OSVersion is longer than 40 characters"),
    ("ProductName", "i" * 81, "ProductName is longer than 80 characters"),
    ("EnrollmentID", "E" * 256, "EnrollmentID is longer than 255 characters"),
    ("Topic", "t" * 256, "Topic is longer than 255 characters"),
])
def test_values_longer_than_apple_ever_sends_are_refused(key, value, message):
    with pytest.raises(CheckinError, match=message):
        parse_checkin(plistlib.dumps({**USER_AUTHENTICATE, key: value}))


def test_a_push_token_longer_than_100_bytes_is_refused():
    with pytest.raises(CheckinError, match="1 to 100 bytes"):
        parse_checkin(plistlib.dumps({**USER_TOKEN_UPDATE, "Token": bytes(101)}))


def test_declarative_management_carries_its_endpoint_and_data_and_no_topic():
    message = parse_checkin(body({"MessageType": "DeclarativeManagement", "EnrollmentID": ENROLLMENT_ID,
                                  "Endpoint": "status", "Data": b'{"StatusItems": {}}'}))
    assert (message.message_type, message.enrollment_type, message.identifier) == (
        "DeclarativeManagement", "user", ENROLLMENT_ID)
    assert (message.endpoint, message.data, message.topic) == ("status", b'{"StatusItems": {}}', None)


@pytest.mark.parametrize("changes, error", [({"Endpoint": None}, "requires Endpoint"),
                                            ({"Endpoint": 5}, "Endpoint must be a <string>"),
                                            ({"Endpoint": "x" * 2000}, "longer than"),
                                            ({"Data": "text"}, "Data must be a <data>")])
def test_declarative_management_without_a_proper_endpoint_is_refused(changes, error):
    message = {"MessageType": "DeclarativeManagement", "EnrollmentID": ENROLLMENT_ID, "Endpoint": "tokens", **changes}
    with pytest.raises(CheckinError, match=error):
        parse_checkin(body({k: v for k, v in message.items() if v is not None}))
