"""The DDM answers stored serialized (``portal.declarations.documents``): they change exactly when the set or a
declaration's content changes, they are what the endpoints serve, and what is not current is computed; and a
status report writes only the statuses that changed, and nothing when the request is refused."""
import json

from sqlalchemy import select, update

from portal.declarations.endpoint import manifest as computed_manifest
from portal.declarations.triggers import reconcile_and_deliver
from portal.extensions import db
from portal.models import DdmEnrollment, Declaration, DeclarationStatus, Device
from tests.helpers import PROFILE_CORPUS
from tests.portal.declarations.conftest import IDENTITY
from tests.portal.declarations.test_ddm_sync import ACTIVATION, report
from tests.portal.scim.bodies import create_user
from tests.portal.scim.conftest import scim  # noqa: F401 (the SCIM tests' directory client)

DOCUMENTS = ("declarations_token", "token_changed_at", "tokens_document", "manifest_document", "activation_document")


def stored(app, phone) -> dict:
    with app.app_context():
        row = db.session.scalar(select(DdmEnrollment).join(Device, Device.id == DdmEnrollment.device_id)
                                .where(Device.enrollment_id == phone.identifier))
        return {name: getattr(row, name) for name in DOCUMENTS}


def document_of(app, identifier):
    with app.app_context():
        return db.session.scalar(select(Declaration.document).where(Declaration.identifier == identifier))


def test_a_devices_answers_change_with_its_set_and_content_and_are_what_it_is_served(app, api, enroll, ddm, declare):
    phone = enroll("user")
    first = stored(app, phone)
    assert all(first.values()), "the enrollment's sync wrote them"
    assert ddm(phone, "tokens").content == first["tokens_document"].encode()
    assert ddm(phone, "declaration-items").content == first["manifest_document"].encode()
    assert ddm(phone, f"declaration/activation/{ACTIVATION}").content == first["activation_document"].encode()
    with app.app_context():
        reconcile_and_deliver(db.session)  # the worker's pass, nothing changed
        db.session.commit()
    assert stored(app, phone) == first

    passcode = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.passcode")
    assert stored(app, phone) == first, "a declaration outside the set changes nothing"
    api("PUT", f"/declarations/{passcode['id']}/scope", json={"all_user_enrolled": True})
    scoped = stored(app, phone)
    assert all(scoped[name] != first[name] for name in DOCUMENTS), "the set changed"
    configurations = json.loads(scoped["manifest_document"])["Declarations"]["Configurations"]
    assert "example.passcode" in {item["Identifier"] for item in configurations}

    same = api("PUT", f"/declarations/{passcode['id']}", json={"payload": {"MinimumLength": 6}})
    assert same.get_json()["changed"] is False and stored(app, phone) == scoped
    api("PUT", f"/declarations/{passcode['id']}", json={"payload": {"MinimumLength": 8}})
    edited = stored(app, phone)
    assert edited["manifest_document"] != scoped["manifest_document"]
    assert edited["activation_document"] == scoped["activation_document"], "the activation names the same ones"
    assert ddm(phone, "declaration-items").content == edited["manifest_document"].encode()


def test_a_declarations_json_is_stored_with_its_content_unless_it_is_filled_in_per_device(app, api, enroll, ddm,
                                                                                           declare):
    phone = enroll("user")
    passcode = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.passcode")
    declare("com.apple.asset.useridentity", IDENTITY, "example.identity")
    assert document_of(app, "example.identity") is None, "it has variables"
    before = document_of(app, "example.passcode")
    assert json.loads(before)["ServerToken"] == passcode["server_token"]
    api("PUT", f"/declarations/{passcode['id']}/scope", json={"all_user_enrolled": True})
    assert ddm(phone, "declaration/configuration/example.passcode").content == before.encode()
    api("PUT", f"/declarations/{passcode['id']}", json={"payload": {"MinimumLength": 6}})
    assert document_of(app, "example.passcode") == before
    api("PUT", f"/declarations/{passcode['id']}", json={"payload": {"MinimumLength": 9}})
    after = document_of(app, "example.passcode")
    assert json.loads(after)["Payload"] == {"MinimumLength": 9}
    assert ddm(phone, "declaration/configuration/example.passcode").content == after.encode()
    assert ddm(phone, "declaration/asset/example.passcode").status_code == 404, "another kind"


def test_a_stale_set_is_answered_from_the_set_not_from_what_is_stored(app, enroll, ddm):
    phone = enroll("user")
    with app.app_context():
        db.session.execute(update(DdmEnrollment).values(stale=True, manifest_document='{"outdated":true}',
                                                        tokens_document='{"outdated":true}',
                                                        activation_document='{"outdated":true}'))
        db.session.commit()
        device_id = db.session.scalar(select(Device.id))
        truth = computed_manifest(db.session.connection(), device_id)
    served = ddm(phone, "declaration-items").json()
    assert served == truth
    assert ddm(phone, "tokens").json()["SyncTokens"]["DeclarationsToken"] == truth["DeclarationsToken"]
    assert ddm(phone, f"declaration/activation/{ACTIVATION}").json()["Identifier"] == ACTIVATION


def test_a_persons_new_name_moves_the_stored_token_of_what_is_filled_in_with_it(app, api, scim, enroll, ddm, declare):
    alice = create_user(scim, "alice@example.org", displayName="Alice Old")
    phone = enroll("user", "alice@example.org")
    identity = declare("com.apple.asset.useridentity", IDENTITY, "example.identity")
    api("PUT", f"/declarations/{identity['id']}/scope", json={"all_user_enrolled": True})

    def tokens():
        assets = ddm(phone, "declaration-items").json()["Declarations"]["Assets"]
        listed = {item["Identifier"]: item["ServerToken"] for item in assets}["example.identity"]
        served = ddm(phone, "declaration/asset/example.identity").json()
        return listed, served["ServerToken"], served["Payload"]["FullName"]

    listed, served, name = tokens()
    assert listed == served and name == "Alice Old"
    rename = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
              "Operations": [{"op": "replace", "path": "displayName", "value": "Alice New"}]}
    assert scim("PATCH", f"/Users/{alice}", rename).status_code in (200, 204)
    with app.app_context():
        reconcile_and_deliver(db.session)  # the worker's pass
        db.session.commit()
    new_listed, new_served, new_name = tokens()
    assert new_name == "Alice New"
    assert new_listed == new_served != listed, "the manifest lists the token the declaration is served with"


def test_a_person_provisioned_after_their_device_enrolled_moves_the_stored_token_of_what_is_filled_in_with_them(
        app, api, scim, enroll, ddm, declare):
    phone = enroll("user", "carol@example.org")  # minted through the API: the device names no person row
    identity = declare("com.apple.asset.useridentity", IDENTITY, "example.identity")
    api("PUT", f"/declarations/{identity['id']}/scope", json={"all_user_enrolled": True})
    create_user(scim, "carol@example.org", displayName="Carol Directory")
    with app.app_context():
        reconcile_and_deliver(db.session)  # the worker's pass
        db.session.commit()
    assets = ddm(phone, "declaration-items").json()["Declarations"]["Assets"]
    served = ddm(phone, "declaration/asset/example.identity").json()
    assert served["Payload"]["FullName"] == "Carol Directory"
    assert {item["Identifier"]: item["ServerToken"] for item in assets}["example.identity"] == served["ServerToken"], \
        "the manifest lists the token the declaration is served with"


def test_editing_the_profile_a_legacy_declaration_wraps_moves_its_server_token_on_every_device(
        app, api, enroll, ddm, device_http, declare):
    phone = enroll("user")
    wifi = (PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes()
    profile = api("POST", "/profiles", data=wifi).get_json()
    legacy = declare("com.apple.configuration.legacy", {}, "example.legacy", profile_id=profile["id"])
    api("PUT", f"/declarations/{legacy['id']}/scope", json={"all_user_enrolled": True})
    before = json.loads(stored(app, phone)["manifest_document"])["Declarations"]["Configurations"]

    edited = api("PUT", f"/profiles/{profile['id']}", data=wifi.replace(b"Example Guest", b"Example Staff"))
    assert edited.get_json()["changed"] is True
    after = json.loads(stored(app, phone)["manifest_document"])["Declarations"]["Configurations"]
    token = {item["Identifier"]: item["ServerToken"] for item in after}["example.legacy"]
    assert token != {item["Identifier"]: item["ServerToken"] for item in before}["example.legacy"], \
        "the device must fetch the declaration, and so the edited profile, again"
    assert ddm(phone, "declaration-items").content == stored(app, phone)["manifest_document"].encode()
    document = ddm(phone, "declaration/configuration/example.legacy").json()
    assert document["ServerToken"] == token, "served with the token its manifest lists"
    assert b"Example Staff" in device_http.get(document["Payload"]["ProfileURL"]).content
    again = api("PUT", f"/declarations/{legacy['id']}", json={"payload": {}, "profile_id": profile["id"]})
    assert again.get_json()["changed"] is False, "the same declaration of the same profile: nothing to fetch"


def test_deleting_the_profile_a_legacy_declaration_wraps_takes_it_off_every_device(
        app, api, enroll, ddm, device_http, declare):
    phone = enroll("user")
    profile = api("POST", "/profiles", data=(PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    legacy = declare("com.apple.configuration.legacy", {}, "example.legacy", profile_id=profile["id"])
    api("PUT", f"/declarations/{legacy['id']}/scope", json={"all_user_enrolled": True})
    url = ddm(phone, "declaration/configuration/example.legacy").json()["Payload"]["ProfileURL"]
    assert device_http.get(url).status_code == 200

    assert api("DELETE", f"/profiles/{profile['id']}").status_code == 200
    listed = ddm(phone, "declaration-items").json()["Declarations"]["Configurations"]
    assert "example.legacy" not in {item["Identifier"] for item in listed}, "removed as from the other devices"
    assert ddm(phone, "declaration-items").content == stored(app, phone)["manifest_document"].encode()
    assert device_http.get(url).status_code == 404, "a deleted profile is served no more"


def _statuses(app):
    with app.app_context():
        return {s.identifier: (s.active, s.valid, s.reasons, s.updated_at)
                for s in db.session.scalars(select(DeclarationStatus))}


def test_a_status_report_writes_only_the_statuses_that_changed(app, enroll, ddm):
    phone = enroll("user")
    listed = {"portal.activation": ("activations", "a1"), "example.one": ("configurations", "t1"),
              "example.two": ("configurations", "t2")}
    full = report([(kind, identifier, token, True) for identifier, (kind, token) in listed.items()])
    assert ddm(phone, "status", full).status_code == 200
    first = _statuses(app)
    assert set(first) == set(listed) and all(active for active, *_ in first.values())
    assert ddm(phone, "status", full).status_code == 200
    assert _statuses(app) == first, "nothing changed, nothing written (updated_at included)"
    flipped = report([(kind, identifier, token, identifier != "example.two")
                      for identifier, (kind, token) in listed.items()])
    assert ddm(phone, "status", flipped).status_code == 200
    after = _statuses(app)
    assert after["example.one"] == first["example.one"]
    active, valid, reasons, updated_at = after["example.two"]
    assert (active, valid) == (False, "invalid") and reasons[0]["Code"] == "Error.ConfigurationCannotBeApplied"
    assert updated_at > first["example.two"][3]


def test_a_status_report_naming_a_declaration_twice_or_holding_a_nul_is_stored_not_a_500(app, enroll, ddm):
    phone = enroll("user")
    twice = report([("configurations", "example.one", "t1", True), ("configurations", "example.one", "t2", False),
                    ("configurations", "example.\x00nul", "t\x003", True)])
    assert ddm(phone, "status", twice).status_code == 200
    stored_statuses = _statuses(app)
    assert stored_statuses["example.one"][:2] == (False, "invalid"), "the last one the report lists"
    assert "example.\ufffdnul" in stored_statuses


def test_a_status_report_with_a_nul_in_its_reasons_or_errors_is_stored_not_a_500(app, enroll, ddm):
    phone = enroll("user")
    hostile = {"code": "Error.\x00", "description": "not\x00applied", "details": {"Key\x00": ["\x00"]}}
    body = report([("configurations", "example.one", "t1", True)])
    body["StatusItems"]["management"]["declarations"]["configurations"][0].update(
        active=False, valid="invalid", reasons=[hostile])
    body["Errors"] = [{"StatusItem": "device\x00", "Reasons": [{"Code": "Error.\x00", "Details": {"a": "\x00"}}]}]
    assert ddm(phone, "status", body).status_code == 200
    reasons = _statuses(app)["example.one"][2]
    assert reasons == [{"Code": "Error.\ufffd", "Description": "not\ufffdapplied", "Details": {"Key\ufffd": ["\ufffd"]}}]


def test_a_status_report_with_a_nul_in_its_inventory_facts_is_stored_replaced_not_a_500(app, enroll, ddm, device_row):
    phone = enroll("user")
    facts = {"operating-system": {"version": "17\x00", "build-version": "21\x00G"}, "model": {"family": "i\x00"}}
    assert ddm(phone, "status", report([], device=facts)).status_code == 200
    device = device_row(phone)
    assert (device.os_version, device.build_version, device.model_name) == ("17\ufffd", "21\ufffdG", "i\ufffd")


def test_a_status_report_with_a_surrogate_in_utf_8_is_refused_with_400_not_a_500(app, enroll, ddm):
    phone = enroll("user")
    statuses = _statuses(app)
    body = json.dumps(report([("configurations", "example.PLACEHOLDER", "t", True)],
                             device={"operating-system": {"version": "PLACEHOLDER"}}))
    refused = ddm(phone, "status", body.replace("PLACEHOLDER", "\ud800").encode("utf-8", "surrogatepass"))
    assert refused.status_code == 400 and "unpaired surrogate" in refused.json()["error"]
    assert _statuses(app) == statuses


def test_a_refused_status_report_writes_nothing(app, enroll, ddm):
    alice, bob = enroll("user", "alice@example.org"), enroll("user", "bob@example.org")
    with app.app_context():
        before = [(d.enrollment_id, d.last_seen_at, d.os_version) for d in db.session.scalars(select(Device))]
    statuses = _statuses(app)
    claimed = report([("configurations", "example.forged", "t", True)],
                     device={"operating-system": {"version": "99.0"}})
    refused = ddm(alice, "status", claimed, EnrollmentID=bob.identifier)  # alice's certificate, bob's enrollment
    assert refused.status_code == 403
    with app.app_context():
        assert [(d.enrollment_id, d.last_seen_at, d.os_version) for d in db.session.scalars(select(Device))] == before
    assert _statuses(app) == statuses


def test_a_sign_in_marks_the_persons_devices_stale_only_when_it_renames_them(app, api, enroll, ddm, declare,
                                                                             monkeypatch):
    from portal.auth import demo_idp
    from tests.helpers import demo_sign_in

    phone = enroll("user", "alice@example.org")
    identity = declare("com.apple.asset.useridentity", IDENTITY, "example.identity")
    api("PUT", f"/declarations/{identity['id']}/scope", json={"all_user_enrolled": True})

    def sign_in_then_stale() -> bool:
        with app.test_client() as browser:
            assert demo_sign_in(browser, "demo-alice", next_path="/enroll").status_code == 302
        with app.app_context():
            stale = db.session.scalar(select(DdmEnrollment.stale))
            reconcile_and_deliver(db.session)  # the worker's pass: stored answers current again
            db.session.commit()
            return stale

    sign_in_then_stale()  # the first sign-in creates the person: their values are new
    assert sign_in_then_stale() is False, "the same claims again change nothing a declaration is filled in with"
    alice = demo_idp._USERS["demo-alice"]
    monkeypatch.setitem(demo_idp._USERS, "demo-alice", demo_idp.DemoUser(alice.sub, alice.email, "Alice Renamed",
                                                                         alice.groups))
    assert sign_in_then_stale() is True
    served = ddm(phone, "declaration/asset/example.identity").json()
    assert served["Payload"]["FullName"] == "Alice Renamed"
