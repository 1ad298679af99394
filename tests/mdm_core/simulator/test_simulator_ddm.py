"""The simulated iPhone's DDM client against an in-memory DDM server built from mdm_core.ddm."""
from __future__ import annotations

import hashlib

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mdm_core.simulator import Behaviour, SimulatedDevice, SimulatorError
from mdm_core.simulator.ddm_apply import evaluate_predicate
from tests.helpers import self_signed
from tests.mdm_core.simulator.ddm_server import ACTIVATION, SUBSCRIPTIONS, DdmServer

MAIL = "com.apple.configuration.account.mail"
IDENTITY = "com.apple.asset.useridentity"
DATA = "com.apple.asset.data"
CERTIFICATE = "com.apple.asset.credential.certificate"


def mail(name="Work mail"):
    return {"VisibleName": name, "UserIdentityAssetReference": "identity",
            "IncomingServer": {"ServerType": "IMAP", "HostName": "imap.example.com", "AuthenticationMethod": "Password"},
            "OutgoingServer": {"HostName": "smtp.example.com", "AuthenticationMethod": "Password"}}


@pytest.fixture
def ddm(server, device_key):
    ddm = DdmServer(server)
    ddm.device_key = device_key  # one SCEP key for every device: generating one costs 0.1 s
    return ddm


@pytest.fixture
def ddm_http(ddm):
    with httpx.Client(transport=httpx.MockTransport(ddm.handle), base_url="https://mdm.test") as client:
        yield client


def enrolled(ddm, http, enrollment_type="user", **kwargs):
    device = SimulatedDevice(enrollment_type, scep_key=ddm.device_key, **kwargs)
    device.install_profile(ddm.server.profile(enrollment_type), http)
    return device


def with_mail(ddm):
    ddm.put("identity", IDENTITY, {"FullName": "Ana Example", "EmailAddress": "ana@example.com"})
    ddm.put("mail", MAIL, mail())
    ddm.with_subscriptions("mail")


def sync(ddm, device, http):
    queued = ddm.sync(device.identifier)
    device.poll(http)
    assert queued.report["Status"] == "Acknowledged"


def declaration_states(report):
    return {status.identifier: status for status in report.declarations}


def test_enabling_ddm_fetches_tokens_manifest_every_declaration_then_sends_a_full_first_report(ddm, ddm_http):
    with_mail(ddm)
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    endpoints = [message["Endpoint"] for message in ddm.checkins]
    assert endpoints[:2] == ["tokens", "declaration-items"]
    assert sorted(endpoints[2:-1]) == ["declaration/activation/activation", "declaration/asset/identity",
                                       "declaration/configuration/mail",
                                       "declaration/configuration/status-subscriptions"]
    assert endpoints[-1] == "status"
    [report] = ddm.status_reports
    assert report.full_report and report.dropped == ()
    assert report.items["device.operating-system.version"] == device.os_version
    assert report.items["passcode.is-compliant"] is True
    assert report.items["account.list.mail.incoming"] == [
        {"identifier": "mail.incoming", "declaration-identifier": "mail", "visible-name": "Work mail",
         "hostname": "imap.example.com"}]
    states = declaration_states(report)
    assert states["mail"].active and states["identity"].active and states[ACTIVATION].active
    assert "management.client-capabilities" in report.items


def test_user_enrollment_sends_enrollment_id_and_device_enrollment_udid(ddm, ddm_http):
    with_mail(ddm)
    user = enrolled(ddm, ddm_http)
    sync(ddm, user, ddm_http)
    assert all(m["EnrollmentID"] == user.enrollment_id and "UDID" not in m for m in ddm.checkins)
    ddm.checkins.clear()
    device = enrolled(ddm, ddm_http, "device")
    sync(ddm, device, ddm_http)
    assert all(m["UDID"] == device.udid and "EnrollmentID" not in m for m in ddm.checkins)


def test_editing_one_declaration_refetches_only_that_one_and_reports_its_new_token_active(ddm, ddm_http):
    with_mail(ddm)
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    fetched = len(device.ddm.fetched)
    ddm.put("mail", MAIL, mail("Renamed"))
    sync(ddm, device, ddm_http)
    assert device.ddm.fetched[fetched:] == ["mail"]
    report = ddm.status_reports[-1]
    assert not report.full_report
    [mail_state] = [s for s in report.declarations if s.identifier == "mail"]
    new_token = next(item.server_token for item in ddm.items() if item.identifier == "mail")
    assert (mail_state.server_token, mail_state.active) == (new_token, True)
    assert "device.operating-system.version" not in report.items  # unchanged: not in an incremental report
    assert report.items["account.list.mail.incoming"][0]["visible-name"] == "Renamed"


def test_a_command_with_the_tokens_the_device_holds_starts_no_sync(ddm, ddm_http):
    with_mail(ddm)
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    requests = dict(device.ddm.requests)
    sync(ddm, device, ddm_http)
    assert dict(device.ddm.requests) == requests


def test_removed_declarations_are_dropped_and_reported_gone(ddm, ddm_http):
    with_mail(ddm)
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    ddm.remove("mail")
    ddm.remove("identity")
    ddm.with_subscriptions()
    sync(ddm, device, ddm_http)
    report = ddm.status_reports[-1]
    assert "mail" not in declaration_states(report) and "mail" not in device.ddm.held
    assert report.items["account.list.mail.incoming"] == [{"identifier": "mail.incoming", "_removed": True}]
    assert device.ddm.fetched[-1] == ACTIVATION


def test_a_configuration_user_enrollment_does_not_allow_is_rejected_with_apples_reason(ddm, ddm_http):
    ddm.put("updates", "com.apple.configuration.softwareupdate.enforcement.specific",
            {"TargetOSVersion": "18.0", "TargetLocalDateTime": "2030-01-01T00:00:00"})
    ddm.with_subscriptions("updates")
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    state = declaration_states(ddm.status_reports[-1])["updates"]
    assert (state.active, state.valid) == (False, "invalid")
    assert state.reasons[0].code == "Error.ConfigurationNotSupported"


def test_unknown_keys_and_missing_assets_are_reported_with_their_reasons(ddm, ddm_http):
    ddm.put("passcode", "com.apple.configuration.passcode.settings", {"MinimumLength": 4, "Colour": "red"})
    ddm.put("mail", MAIL, mail())
    ddm.with_subscriptions("passcode", "mail")
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    states = declaration_states(ddm.status_reports[-1])
    assert states["passcode"].reasons[0].code == "Error.UnknownPayloadKeys"
    assert states["passcode"].reasons[0].details == {"UnknownPayloadKeys": ["Colour"]}
    assert states["mail"].reasons[0].code == "Error.MissingAssets" and not states["mail"].active


def test_a_stricter_passcode_policy_makes_the_device_report_non_compliance(ddm, ddm_http):
    ddm.with_subscriptions()
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    assert ddm.status_reports[-1].items["passcode.is-compliant"] is True
    ddm.put("passcode", "com.apple.configuration.passcode.settings", {"MinimumLength": 8})
    ddm.with_subscriptions("passcode")
    sync(ddm, device, ddm_http)
    assert ddm.status_reports[-1].items["passcode.is-compliant"] is False


def test_an_activation_whose_predicate_is_false_applies_nothing(ddm, ddm_http):
    with_mail(ddm)
    ddm.put("ipad-only", "com.apple.activation.simple",
            {"StandardConfigurations": ["mail"], "Predicate": "@status(device.model.family) == 'iPad'"})
    ddm.with_subscriptions()
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    states = declaration_states(ddm.status_reports[-1])
    assert states["ipad-only"].reasons[0].code == "Info.Predicate" and not states["ipad-only"].active
    assert states["mail"].reasons[0].code == "Info.NotReferencedByActivation"
    assert states["identity"].reasons[0].code == "Info.NotReferencedByConfiguration"


def test_a_hostile_device_volunteers_hardware_identifiers_and_the_parser_drops_them(ddm, ddm_http):
    ddm.with_subscriptions()
    device = enrolled(ddm, ddm_http, behaviour=Behaviour(hostile=True))
    sync(ddm, device, ddm_http)
    report = ddm.status_reports[-1]
    assert set(report.dropped) == {"device.identifier.serial-number", "device.identifier.udid",
                                   "device.power.battery-health"}
    assert device.serial_number not in repr(report)


def test_a_device_enrollment_reports_its_serial_number_when_subscribed(ddm, ddm_http):
    ddm.put(SUBSCRIPTIONS, "com.apple.configuration.management.status-subscriptions",
            {"StatusItems": [{"Name": "device.identifier.serial-number"}, {"Name": "management.declarations"}]})
    ddm.activate(SUBSCRIPTIONS)
    user = enrolled(ddm, ddm_http)
    sync(ddm, user, ddm_http)
    assert "device" not in user.ddm.reports[-1]["StatusItems"]
    device = enrolled(ddm, ddm_http, "device")
    sync(ddm, device, ddm_http)
    assert device.ddm.reports[-1]["StatusItems"]["device"]["identifier"] == {"serial-number": device.serial_number}


def test_a_declarative_management_command_without_tokens_is_answered_with_an_error(ddm, ddm_http):
    device = enrolled(ddm, ddm_http)
    queued = ddm.server.enqueue(device.identifier, {"RequestType": "DeclarativeManagement", "Data": b"nope"})
    [exchange] = device.poll(ddm_http)
    assert exchange.status == "Error"
    assert queued.report["ErrorChain"][0]["ErrorCode"] == 12001
    assert device.ddm.requests == {}


@pytest.mark.parametrize(("predicate", "expected"), [
    ("TRUEPREDICATE", True), ("FALSEPREDICATE", False),
    ("@status(device.model.family) == 'iPhone'", True),
    ('@status(device.model.family) != "iPhone"', False),
    ("@status(device.operating-system.version) BEGINSWITH '17.'", True),
    ("@status(device.model.family) == 'iPad' OR @property(team) == 'sales'", True),
    ("@status(device.model.family) == 'iPhone' AND @property(team) == 'ops'", False),
    ("@status(passcode.is-compliant) == true", True),
    ("SUBQUERY(x, $y, $y > 1)", None),
])
def test_predicates_are_evaluated_as_a_phone_reads_them(predicate, expected):
    facts = {"device.model.family": "iPhone", "device.operating-system.version": "17.5.1", "passcode.is-compliant": True}
    assert evaluate_predicate(predicate, facts, {"team": "sales"}) is expected


def test_a_manifest_that_is_not_one_is_a_simulator_error(ddm, ddm_http, monkeypatch):
    with_mail(ddm)
    device = enrolled(ddm, ddm_http)
    answer = ddm._answer
    monkeypatch.setattr(ddm, "_answer", lambda message: httpx.Response(200, json={"Declarations": {}})
                        if message["Endpoint"] == "declaration-items" else answer(message))
    ddm.sync(device.identifier)
    with pytest.raises(SimulatorError, match="not a DeclarationItemsResponse"):
        device.poll(ddm_http)


def served_asset(ddm, identifier, asset_type, data, media_type, **reference):
    """An asset whose data the DDM server serves over MDM, with a configuration that uses it."""
    ddm.served[identifier] = (data, media_type)
    ddm.put(identifier, asset_type, {"Reference": {"DataURL": f"https://mdm.test/assets/{identifier}",
                                                   "ContentType": media_type, "Size": len(data),
                                                   "Hash-SHA-256": hashlib.sha256(data).hexdigest(), **reference},
                                     "Authentication": {"Type": "MDM"}})


def with_assets(ddm):
    certificate, _ = self_signed("Example Root CA")
    served_asset(ddm, "notes", DATA, b"echo me\n", "text/plain")
    served_asset(ddm, "root", CERTIFICATE, certificate.public_bytes(Encoding.PEM), "application/pem")
    ddm.put("test", "com.apple.configuration.management.test", {"Echo": "hi", "EchoDataAssetReference": "notes"})
    ddm.put("trust", "com.apple.configuration.security.certificate", {"CredentialAssetReference": "root"})
    ddm.with_subscriptions("test", "trust")


def test_asset_data_served_over_mdm_is_fetched_with_a_signed_get_and_checked(ddm, ddm_http):
    with_assets(ddm)
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    assert device.ddm.asset_data == {"notes": b"echo me\n", "root": ddm.served["root"][0]}
    states = declaration_states(ddm.status_reports[-1])
    assert states["notes"].active and states["root"].active and states["trust"].active
    assert device.fetch("https://mdm.test/assets/notes", ddm_http, as_mdm_request=False).status_code == 403, \
        "the stand-in, as this server, serves it only to a signed request"


@pytest.mark.parametrize(("change", "code"), [
    (lambda ddm: ddm.served.update(notes=(b"echo you\n", "text/plain")), "Error.AssetCannotBeVerified"),
    (lambda ddm: ddm.served.update(notes=(b"echo me\n", "text/html")), "Error.AssetCannotBeVerified"),
    (lambda ddm: ddm.served.pop("notes"), "Error.AssetCannotBeDownloaded"),
    (lambda ddm: served_asset(ddm, "notes", DATA, b"echo me\n", "text/plain", Size=3), "Error.AssetCannotBeVerified"),
    (lambda ddm: ddm.put("notes", DATA, {**ddm.declarations["notes"][1], "Authentication": {"Type": "None"}}),
     "Error.AssetCannotBeDownloaded"),
])
def test_asset_data_that_is_not_what_its_reference_says_makes_the_asset_invalid(ddm, ddm_http, change, code):
    with_assets(ddm)
    change(ddm)
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    state = declaration_states(ddm.status_reports[-1])["notes"]
    assert (state.active, state.valid, state.reasons[0].code) == (False, "invalid", code)
    assert "notes" not in device.ddm.asset_data and declaration_states(ddm.status_reports[-1])["root"].active


@pytest.mark.parametrize(("data", "media_type"), [(b"-----BEGIN CERTIFICATE-----\nnot one", "application/pem"),
                                                  (None, "application/pkcs1")])
def test_a_certificate_asset_whose_data_is_not_a_certificate_of_its_media_type_cannot_be_deserialized(
        ddm, ddm_http, data, media_type):
    with_assets(ddm)
    served_asset(ddm, "root", CERTIFICATE, data or ddm.served["root"][0], media_type)
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    state = declaration_states(ddm.status_reports[-1])["root"]
    assert (state.active, state.reasons[0].code) == (False, "Error.AssetCannotBeDeserialized")


def _declare_app_after_a_first_sync(ddm, ddm_http, payload):
    """A phone synchronised once, then given a managed-app declaration of ``payload`` and synchronised again."""
    ddm.with_subscriptions()
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    ddm.put("app", "com.apple.configuration.app.managed", payload)
    ddm.with_subscriptions("app")
    sync(ddm, device, ddm_http)
    return device


@pytest.mark.parametrize("payload, reported", [
    ({"AppStoreID": "0361309726"}, "com.example.store.361309726"),
    ({"ManifestURL": "https://apps.example.org/tool/tool.plist"}, "com.example.inhouse.tool"),
    ({"ManifestURL": "https://[::1"}, "com.example.inhouse.app"),
    ({"BundleID": "com.example.declared"}, "com.example.declared"),
])
def test_a_declared_managed_app_is_reported_by_the_bundle_id_it_installs(ddm, ddm_http, payload, reported):
    _declare_app_after_a_first_sync(ddm, ddm_http, payload)
    assert [entry["identifier"] for entry in ddm.status_reports[-1].items["app.managed.list"]] == [reported]


@pytest.mark.parametrize("payload", [{}, {"AppStoreID": "361309726", "BundleID": "com.apple.Pages"}])
def test_a_managed_app_without_exactly_one_source_is_invalid_and_installs_nothing(ddm, ddm_http, payload):
    device = _declare_app_after_a_first_sync(ddm, ddm_http, payload)
    state = declaration_states(ddm.status_reports[-1])["app"]
    assert (state.active, state.valid) == (False, "invalid")
    assert not device.ddm.outcome.values.get("app.managed.list")


def test_a_passcode_policy_outside_the_schemas_range_is_invalid(ddm, ddm_http):
    ddm.put("passcode", "com.apple.configuration.passcode.settings", {"MinimumLength": 99})
    ddm.with_subscriptions("passcode")
    device = enrolled(ddm, ddm_http)
    sync(ddm, device, ddm_http)
    state = declaration_states(ddm.status_reports[-1])["passcode"]
    assert (state.active, state.valid) == (False, "invalid")
