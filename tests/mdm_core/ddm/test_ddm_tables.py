"""The shipped DDM tables match Apple's schemas, and read them the way the schema documentation says."""
from __future__ import annotations

import pytest

from mdm_core.ddm import tables
from tests.mdm_core.schema_tables import SCHEMA_DIR, assert_generated, assert_indented_and_sorted, needs_schemas


@needs_schemas
def test_shipped_tables_are_exactly_what_the_generator_derives_from_the_schemas():
    assert_generated("generate_ddm_tables", "ddm.json")


@needs_schemas
def test_schema_commit_is_the_commit_of_the_schema_copy():
    assert tables.SCHEMA_COMMIT == (SCHEMA_DIR / "SOURCE_COMMIT").read_text().strip()


@needs_schemas
def test_every_declaration_and_status_item_file_is_tabulated():
    declarations = sorted((SCHEMA_DIR / "declarative" / "declarations").glob("*/*.yaml"))
    assert len(declarations) == len(tables._DECLARATIONS)
    statuses = [path for path in (SCHEMA_DIR / "declarative" / "status").glob("*.yaml") if path.stem != "statusreason"]
    assert sorted(path.stem for path in statuses) == sorted(tables._STATUS_ITEMS)


def test_shipped_json_is_indented_and_sorted():
    assert_indented_and_sorted("ddm.json")


@pytest.mark.parametrize("declaration_type", [
    "com.apple.configuration.account.mail", "com.apple.configuration.account.exchange",
    "com.apple.configuration.account.caldav", "com.apple.configuration.account.carddav",
    "com.apple.configuration.account.ldap", "com.apple.configuration.account.subscribed-calendar",
    "com.apple.configuration.account.google", "com.apple.configuration.passcode.settings",
    "com.apple.configuration.app.managed", "com.apple.configuration.security.certificate",
    "com.apple.configuration.security.identity", "com.apple.configuration.legacy",
    "com.apple.configuration.management.status-subscriptions", "com.apple.configuration.management.test"])
def test_configurations_user_enrollment_allows(declaration_type):
    spec = tables.declaration_spec(declaration_type)
    assert spec.kind == "configuration" and spec.ios_supported and spec.user_enrollment


@pytest.mark.parametrize("declaration_type", [
    "com.apple.configuration.softwareupdate.enforcement.specific", "com.apple.configuration.softwareupdate.settings",
    "com.apple.configuration.security.passkey.attestation", "com.apple.configuration.math.settings",
    "com.apple.configuration.safari.extensions.settings", "com.apple.configuration.watch.enrollment"])
def test_configurations_user_enrollment_refuses(declaration_type):
    spec = tables.declaration_spec(declaration_type)
    assert spec.ios_supported and not spec.user_enrollment
    assert "user" not in spec.allowed_enrollments


def test_assets_activations_and_management_carry_no_enrollment_restriction():
    for name, kind in [("com.apple.asset.useridentity", "asset"), ("com.apple.asset.credential.userpassword", "asset"),
                       ("com.apple.activation.simple", "activation"),
                       ("com.apple.management.organization-info", "management")]:
        spec = tables.declaration_spec(name)
        assert (spec.kind, spec.allowed_enrollments, spec.user_enrollment) == (kind, None, True)


def test_minimum_ios_versions_come_from_the_schema():
    assert tables.declaration_spec("com.apple.configuration.app.managed").introduced == "17.2"
    assert tables.declaration_spec("com.apple.configuration.security.identity").introduced == "17.0"
    assert tables.declaration_spec("com.apple.configuration.account.mail").introduced == "15.0"


def test_macos_only_declarations_are_not_ios():
    assert not tables.declaration_spec("com.apple.configuration.screensharing.connection").ios_supported
    assert "com.apple.configuration.screensharing.connection" not in tables.declaration_types()


def test_keys_carry_types_presence_allowed_values_and_nesting():
    keys = tables.declaration_spec("com.apple.configuration.account.mail").keys
    incoming = keys["IncomingServer"]
    assert incoming.type == "<dictionary>" and incoming.required
    assert incoming.subkeys["ServerType"].rangelist == ("IMAP", "POP")
    assert incoming.subkeys["Port"].type == "<integer>" and not incoming.subkeys["Port"].required
    subscriptions = tables.declaration_spec("com.apple.configuration.management.status-subscriptions").keys
    assert subscriptions["StatusItems"].item.subkeys["Name"].required


def test_asset_references_carry_the_asset_types_the_schema_lets_them_name():
    mail = tables.declaration_spec("com.apple.configuration.account.mail").asset_types
    assert mail["UserIdentityAssetReference"] == ("com.apple.asset.useridentity",)
    assert mail["AuthenticationCredentialsAssetReference"] == ("com.apple.asset.credential.userpassword",), \
        "nested under IncomingServer and OutgoingServer"
    anchors = tables.declaration_spec("com.apple.configuration.watch.enrollment").asset_types
    assert anchors["AnchorCertificateAssetReferences"] == ("com.apple.asset.credential.certificate",), "an array's items"
    assert tables.declaration_spec("com.apple.activation.simple").asset_types == {}


def test_a_key_only_supervised_devices_take_is_forbidden_for_user_enrollment():
    deferrals = tables.declaration_spec("com.apple.configuration.softwareupdate.settings").keys["Deferrals"]
    assert deferrals.supervised_only and deferrals.user_enrollment == "forbidden"


def test_data_keys_are_base64_strings_in_json():
    identity = tables.asset_data_keys("identity")
    assert identity["Identity"].type == "<string>"


@pytest.mark.parametrize("item", ["device.identifier.serial-number", "device.identifier.udid",
                                  "device.power.battery-health", "softwareupdate.install-state"])
def test_status_items_user_enrollment_does_not_report(item):
    assert item not in tables.status_item_names(user_enrollment=True)
    assert item in tables.status_item_names()


@pytest.mark.parametrize("item", ["device.model.family", "device.operating-system.version", "passcode.is-compliant",
                                  "account.list.mail.incoming", "app.managed.list", "security.certificate.list",
                                  "management.declarations"])
def test_status_items_user_enrollment_reports(item):
    assert item in tables.status_item_names(user_enrollment=True)


def test_reason_codes_include_the_ones_a_phone_gives_for_unsupported_configurations():
    assert {"Error.ConfigurationNotSupported", "Error.UnknownPayloadKeys",
            "Error.MissingAssets"} <= set(tables.REASON_CODES)
