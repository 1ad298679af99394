"""Applying acknowledged inventory reports: what the tables hold afterwards and which changes are recorded."""
import logging
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from portal.extensions import db
from mdm_core.results import INVENTORY_REQUEST_TYPES, parse_inventory
from portal.inventory.records import ANSWER_KINDS, apply_report, managed_app_identifiers
from portal.models import Device, DeviceApp, DeviceCertificate, DeviceInventory, DeviceProfile, InventoryChange

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("request_type, data", [("DeviceInformation", {"QueryResponses": {}}),
                                                ("SecurityInfo", {"SecurityInfo": {}})])
def test_answer_kinds_name_the_kind_the_results_parser_gives(request_type, data):
    assert ANSWER_KINDS[request_type] == parse_inventory(request_type, data).kind
    assert set(ANSWER_KINDS) <= INVENTORY_REQUEST_TYPES


@pytest.fixture
def device_id(seed):
    return seed(1, device_name="Old name")[0]


@pytest.fixture
def apply(app, device_id):
    def run(request_type, report, at=T0):
        with app.app_context():
            apply_report(db.session.connection(), device_id, request_type, report, at)
            db.session.commit()
    return run


def _changes(app, device_id):
    with app.app_context():
        return [(c.kind, c.key, c.old, c.new, c.at) for c in db.session.scalars(
            select(InventoryChange).where(InventoryChange.device_id == device_id).order_by(InventoryChange.id))]


def _rows(app, model, device_id, key):
    with app.app_context():
        rows = db.session.scalars(select(model).where(model.device_id == device_id).order_by(getattr(model, key))).all()
        db.session.expunge_all()
        return {getattr(row, key): row for row in rows}


def _info(**responses):
    return {"QueryResponses": responses}


def test_first_device_information_is_stored_and_mirrored_without_recording_changes(app, apply, device_id):
    apply("DeviceInformation", _info(OSVersion="18.0." + "1" * 60, DeviceName="Phone", ModelName=7, BatteryLevel=0.5))
    with app.app_context():
        inventory = db.session.get(DeviceInventory, device_id)
        device = db.session.get(Device, device_id)
        assert inventory.facts == {"OSVersion": "18.0." + "1" * 60, "DeviceName": "Phone", "ModelName": 7,
                                   "BatteryLevel": 0.5}
        assert (inventory.facts_updated_at, inventory.security, inventory.security_updated_at) == (T0, {}, None)
        assert device.os_version == ("18.0." + "1" * 60)[:40], "truncated to the column"
        assert device.device_name == "Phone"
        assert device.model_name is None, "only strings are mirrored"
        assert device.model == "MTLW3LL/A", "a fact not reported leaves its column alone"
    assert _changes(app, device_id) == []


def test_later_device_information_records_changed_facts_but_not_volatile_ones(app, apply, device_id):
    apply("DeviceInformation", _info(OSVersion="17.5.1", DeviceName="Phone", BatteryLevel=0.5, IsSupervised=False))
    later = T0 + timedelta(days=1)
    apply("DeviceInformation", _info(OSVersion="18.0", BatteryLevel=0.9, IsSupervised=False, DeviceCapacity=128.0),
          at=later)
    assert _changes(app, device_id) == [("facts", "DeviceCapacity", None, 128.0, later),
                                        ("facts", "DeviceName", "Phone", None, later),
                                        ("facts", "OSVersion", "17.5.1", "18.0", later)]
    with app.app_context():
        assert db.session.get(DeviceInventory, device_id).facts_updated_at == later
        device = db.session.get(Device, device_id)
        assert (device.os_version, device.device_name) == ("18.0", "Phone"), "a fact gone keeps the column"


def test_device_information_with_queries_replaces_only_the_facts_it_asked_for(app, device_id):
    def apply(report, at, queries):
        with app.app_context():
            apply_report(db.session.connection(), device_id, "DeviceInformation", report, at, queries=queries)
            db.session.commit()

    apply(_info(OSVersion="17.5.1", DeviceName="Phone", ModelName="iPhone", IsRoaming=False), T0, None)
    later = T0 + timedelta(days=1)
    apply(_info(OSVersion="18.0", ModelName="iPhone"), later, ["OSVersion", "ModelName", "IsRoaming"])
    assert _changes(app, device_id) == [("facts", "IsRoaming", False, None, later),
                                        ("facts", "OSVersion", "17.5.1", "18.0", later)]
    with app.app_context():
        assert db.session.get(DeviceInventory, device_id).facts == {
            "DeviceName": "Phone", "ModelName": "iPhone", "OSVersion": "18.0"}, "not asked for: kept"


def test_facts_answered_after_a_first_security_answer_are_not_recorded_as_changes(app, apply, device_id):
    apply("SecurityInfo", {"SecurityInfo": {"PasscodePresent": True}})
    apply("DeviceInformation", _info(OSVersion="17.5.1", DeviceName="Phone"), at=T0 + timedelta(hours=1))
    assert _changes(app, device_id) == []
    apply("DeviceInformation", _info(OSVersion="18.0", DeviceName="Phone"), at=T0 + timedelta(hours=2))
    assert _changes(app, device_id) == [("facts", "OSVersion", "17.5.1", "18.0", T0 + timedelta(hours=2))]


def test_security_changes_are_recorded_only_after_a_first_security_answer(app, apply, device_id):
    apply("DeviceInformation", _info(OSVersion="17.5.1"))
    apply("SecurityInfo", {"SecurityInfo": {"PasscodePresent": False}}, at=T0 + timedelta(hours=1))
    assert _changes(app, device_id) == []
    apply("SecurityInfo", {"SecurityInfo": {"PasscodePresent": True}}, at=T0 + timedelta(hours=2))
    assert _changes(app, device_id) == [("security", "PasscodePresent", False, True, T0 + timedelta(hours=2))]
    with app.app_context():
        inventory = db.session.get(DeviceInventory, device_id)
        assert (inventory.facts, inventory.security) == ({"OSVersion": "17.5.1"}, {"PasscodePresent": True})
        assert (inventory.facts_updated_at, inventory.security_updated_at) == (T0, T0 + timedelta(hours=2))


def test_profile_list_adds_updates_and_removes_rows(app, apply, device_id):
    def profile(identifier, name, *types):
        return {"PayloadIdentifier": identifier, "PayloadDisplayName": name,
                "PayloadContent": [{"PayloadType": t} for t in types]}
    apply("ProfileList", {"ProfileList": [profile("org.a", "A", "com.apple.wifi.managed"), profile("org.b", "B")]})
    later = T0 + timedelta(days=1)
    apply("ProfileList", {"ProfileList": [profile("org.a", "A2", "com.apple.vpn.managed"), profile("org.c", "C")]},
          at=later)
    rows = _rows(app, DeviceProfile, device_id, "identifier")
    assert sorted(rows) == ["org.a", "org.c"]
    assert (rows["org.a"].display_name, rows["org.a"].payload_types, rows["org.a"].updated_at) == \
        ("A2", ["com.apple.vpn.managed"], later)
    assert rows["org.c"].is_managed is True
    assert _changes(app, device_id) == [("profiles", "org.a", None, "added", T0),
                                        ("profiles", "org.b", None, "added", T0),
                                        ("profiles", "org.c", None, "added", later),
                                        ("profiles", "org.b", "installed", None, later)]


def test_installed_apps_keep_missing_rows_and_managed_apps_remove_them(app, apply, device_id):
    apply("InstalledApplicationList", {"InstalledApplicationList": [
        {"Identifier": "com.a", "Name": "A", "Version": "1", "BundleSize": 10}, {"Identifier": "com.b", "Name": "B"}]})
    later = T0 + timedelta(days=1)
    apply("InstalledApplicationList",
          {"InstalledApplicationList": [{"Identifier": "com.a", "Name": "A", "Version": "2"}]}, at=later)
    rows = _rows(app, DeviceApp, device_id, "identifier")
    assert sorted(rows) == ["com.a", "com.b"], "an app missing from the installed list stays"
    assert (rows["com.a"].version, rows["com.a"].bundle_size, rows["com.a"].updated_at) == ("2", None, later)
    assert rows["com.b"].updated_at == T0
    apply("ManagedApplicationList", {"ManagedApplicationList": {"com.a": {"Status": "Managed"}}}, at=later)
    rows = _rows(app, DeviceApp, device_id, "identifier")
    assert sorted(rows) == ["com.a"]
    assert (rows["com.a"].status, rows["com.a"].name) == ("Managed", "A"), "a managed list only sets the status"
    with app.app_context():
        assert managed_app_identifiers(db.session.connection(), device_id) == {"com.a"}
    assert _changes(app, device_id)[2:] == [("apps", "com.b", "installed", None, later)]


def test_managed_app_identifiers_equal_once_cut_to_the_column_are_stored_once(app, apply, device_id):
    long_id = "com.example." + "a" * 300
    apply("ManagedApplicationList", {"ManagedApplicationList": {
        long_id + "1": {"Status": "Installing"}, long_id + "2": {"Status": "Managed"}}})
    with app.app_context():
        apps = {row.identifier: (row.name, row.status)
                for row in db.session.scalars(select(DeviceApp).where(DeviceApp.device_id == device_id))}
    assert apps == {long_id[:255]: (None, "Managed")}  # the last one wins, as for repeated entries in lists


def test_certificates_are_stored_by_fingerprint_with_their_expiry(app, apply, device_id):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Device Identity")])
    not_after = datetime(2030, 1, 1, tzinfo=timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(T0).not_valid_after(not_after).sign(key, hashes.SHA256()))
    der = certificate.public_bytes(Encoding.DER)
    apply("CertificateList", {"CertificateList": [{"Data": der, "IsIdentity": True}, {"Data": b"not DER"}]})
    rows = _rows(app, DeviceCertificate, device_id, "fingerprint")
    by_name = {row.common_name: row for row in rows.values()}
    assert (by_name["Device Identity"].is_identity, by_name["Device Identity"].not_after) == (True, not_after)
    assert (by_name[None].is_identity, by_name[None].not_after) == (False, None)
    apply("CertificateList", {"CertificateList": [{"Data": der}]}, at=T0 + timedelta(days=1))
    assert list(_rows(app, DeviceCertificate, device_id, "fingerprint")) == [by_name["Device Identity"].fingerprint]
    assert [(kind, new) for kind, _, _, new, _ in _changes(app, device_id)] == \
        [("certificates", "added"), ("certificates", "added"), ("certificates", None)]


def test_a_malformed_report_changes_nothing(app, apply, device_id, caplog, monkeypatch):
    # the in-process migration's logging.config.fileConfig disabled loggers that existed before it
    monkeypatch.setattr(logging.getLogger("portal.inventory.records"), "disabled", False)
    apply("DeviceInformation", {"QueryResponses": ["not", "a", "dictionary"]})
    assert "inventory report ignored" in caplog.text
    with app.app_context():
        assert db.session.get(DeviceInventory, device_id) is None
    assert _changes(app, device_id) == []
