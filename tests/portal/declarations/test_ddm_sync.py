"""DDM end to end with simulated phones through the real check-in, queue and API: enabling DDM, tokens,
the manifest, declarations, status reports, and what reaches whom."""
import json
import plistlib

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Command, DdmEnrollment, DeclarationStatus
from tests.portal.declarations.conftest import IDENTITY, MAIL

SUBSCRIPTIONS, ACTIVATION = "portal.status-subscriptions", "portal.activation"


def sync_commands(app):
    with app.app_context():
        statement = select(Command).where(Command.request_type == "DeclarativeManagement")
        return list(db.session.scalars(statement))


def manifest(ddm, phone):
    response = ddm(phone, "declaration-items")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    lists = response.json()["Declarations"]
    return {kind: {d["Identifier"]: d["ServerToken"] for d in items} for kind, items in lists.items()}


def report(declarations, *, full=True, **items):
    """A status report as an iPhone sends one (``items``: nested StatusItems)."""
    lists = {"activations": [], "configurations": [], "assets": [], "management": []}
    for kind, identifier, token, active in declarations:
        lists[kind].append({"identifier": identifier, "server-token": token, "active": active,
                            "valid": "valid" if active else "invalid",
                            **({} if active else {"reasons": [{"code": "Error.ConfigurationCannotBeApplied",
                                                               "description": "not applied"}]})})
    return {"StatusItems": {**items, "management": {"declarations": lists}}, "Errors": [], "FullReport": full}


def test_enrolling_turns_ddm_on_and_the_device_reads_tokens_manifest_and_declarations(app, enroll, ddm):
    phone = enroll("user")
    commands = sync_commands(app)
    assert len(commands) == 1, "one DeclarativeManagement command at enrollment"
    sent = plistlib.loads(commands[0].payload)["Command"]
    token = json.loads(sent["Data"])["SyncTokens"]["DeclarationsToken"]
    tokens = ddm(phone, "tokens")
    assert tokens.status_code == 200 and tokens.json()["SyncTokens"]["DeclarationsToken"] == token
    listed = manifest(ddm, phone)
    assert set(listed["Configurations"]) == {SUBSCRIPTIONS} and set(listed["Activations"]) == {ACTIVATION}
    activation = ddm(phone, f"declaration/activation/{ACTIVATION}").json()
    assert activation["Payload"]["StandardConfigurations"] == [SUBSCRIPTIONS]
    assert activation["ServerToken"] == listed["Activations"][ACTIVATION]
    subscriptions = ddm(phone, f"declaration/configuration/{SUBSCRIPTIONS}").json()
    names = {item["Name"] for item in subscriptions["Payload"]["StatusItems"]}
    assert "device.operating-system.version" in names and "passcode.is-compliant" in names
    assert not names & {"device.identifier.serial-number", "device.identifier.udid", "device.power.battery-health"}

    first = report([("configurations", SUBSCRIPTIONS, listed["Configurations"][SUBSCRIPTIONS], True),
                    ("activations", ACTIVATION, listed["Activations"][ACTIVATION], True)],
                   device={"operating-system": {"version": "17.6", "build-version": "21G80"},
                           "identifier": {"serial-number": "F2LXK0AAHG7F", "udid": "00008110-0001"}},
                   passcode={"is-compliant": False, "is-present": True})
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Command)
                                   .where(Command.request_type == "DeviceInformation"))
    assert ddm(phone, "status", first).status_code == 200
    with app.app_context():
        ddm_row = db.session.scalar(select(DdmEnrollment))
        assert (ddm_row.passcode_compliant, ddm_row.passcode_present) == (False, True)
        stored = {s.identifier: s for s in db.session.scalars(select(DeclarationStatus))}
        assert stored[SUBSCRIPTIONS].active and stored[ACTIVATION].valid == "valid"
        assert db.session.scalar(select(func.count()).select_from(Command)
                                 .where(Command.request_type == "DeviceInformation")) == before


def test_a_status_report_updates_inventory_and_keeps_no_serial_number(app, enroll, ddm, device_row):
    phone = enroll("user")
    data = report([], device={"operating-system": {"version": "17.6.1", "build-version": "21G93"},
                              "model": {"identifier": "iPhone15,2"},
                              "identifier": {"serial-number": "F2LXK0AAHG7F", "udid": "00008110-000A"}},
                  passcode={"is-compliant": True})
    assert ddm(phone, "status", data).status_code == 200
    device = device_row(phone)
    assert (device.os_version, device.build_version, device.product_name) == ("17.6.1", "21G93", "iPhone15,2")
    with app.app_context():
        everything = json.dumps([[str(v) for v in row] for table in ("devices", "ddm_enrollments",
                                                                     "declaration_statuses", "device_inventories")
                                 for row in db.session.execute(db.text(f"SELECT * FROM {table}"))])
    assert "F2LXK0AAHG7F" not in everything and "00008110-000A" not in everything


def test_a_group_scoped_mail_account_with_its_identity_asset_reaches_exactly_that_group(
        app, api, enroll, ddm, declare, sign_in_with_groups):
    sign_in_with_groups("demo-alice", "sales")
    sign_in_with_groups("demo-carol", "it")
    alice, carol = enroll("user", "alice@example.org"), enroll("user", "carol@example.org")
    declare("com.apple.asset.useridentity", IDENTITY, "example.identity")
    mail = declare("com.apple.configuration.account.mail", MAIL, "example.mail")
    response = api("PUT", f"/declarations/{mail['id']}/scope", json={"groups": ["sales"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"devices_added": 1, "devices_removed": 0}
    assert len(sync_commands(app)) == 3, "enrollments sent one each, the scope change one for alice only"
    alices, carols = manifest(ddm, alice), manifest(ddm, carol)
    assert set(alices["Configurations"]) == {SUBSCRIPTIONS, "example.mail"}
    assert set(alices["Assets"]) == {"example.identity"}, "the asset follows the configuration that names it"
    assert set(carols["Configurations"]) == {SUBSCRIPTIONS} and not carols["Assets"]
    asset = ddm(alice, "declaration/asset/example.identity").json()
    assert asset["Payload"]["EmailAddress"] == "alice@example.org", "variables are filled in per device"
    assert ddm(carol, "declaration/configuration/example.mail").status_code == 404, "another enrollment's set"
    activation = ddm(alice, f"declaration/activation/{ACTIVATION}").json()
    assert activation["Payload"]["StandardConfigurations"] == ["example.mail", SUBSCRIPTIONS]


def test_editing_changes_one_server_token_and_removing_scope_removes_it(app, api, enroll, ddm, declare):
    phone = enroll("user")
    declare("com.apple.asset.useridentity", IDENTITY, "example.identity")
    mail = declare("com.apple.configuration.account.mail", MAIL, "example.mail")
    passcode = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.passcode")
    for declaration in (mail, passcode):
        assert api("PUT", f"/declarations/{declaration['id']}/scope",
                   json={"all_user_enrolled": True}).status_code == 200
    before = manifest(ddm, phone)
    same = api("PUT", f"/declarations/{mail['id']}", json={"payload": MAIL})
    assert same.status_code == 200 and same.get_json()["changed"] is False
    edited = api("PUT", f"/declarations/{mail['id']}", json={"payload": {**MAIL, "VisibleName": "Mail"}})
    assert edited.get_json()["changed"] is True and edited.get_json()["server_token"] != mail["server_token"]
    after = manifest(ddm, phone)
    changed = {(kind, i) for kind in after for i in after[kind] if before[kind].get(i) != after[kind][i]}
    assert changed == {("Configurations", "example.mail")}, "only the edited configuration's token moved"
    commands = sync_commands(app)
    assert len([c for c in commands if c.status == "queued"]) == 1, "at most one pending sync command per device"

    assert api("PUT", f"/declarations/{mail['id']}/scope", json={}).get_json() == {
        "devices_added": 0, "devices_removed": 1}
    gone = manifest(ddm, phone)
    assert "example.mail" not in gone["Configurations"] and "example.identity" not in gone["Assets"]
    assert ddm(phone, "declaration/configuration/example.mail").status_code == 404
    full = report([("configurations", "example.passcode", gone["Configurations"]["example.passcode"], True)])
    assert ddm(phone, "status", full).status_code == 200
    with app.app_context():
        assert set(db.session.scalars(select(DeclarationStatus.identifier))) == {"example.passcode"}


def test_malformed_ddm_messages_get_a_clear_4xx(app, enroll, ddm, declare, api):
    alice, bob = enroll("user", "alice@example.org"), enroll("user", "bob@example.org")
    secret = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 8}, "example.alice-only")
    api("PUT", f"/declarations/{secret['id']}/scope", json={"users": ["alice@example.org"]})
    assert ddm(alice, "declaration/configuration/example.alice-only").status_code == 200
    cases = {"nonsense": 400, "declaration/configuration": 400, "declaration/profile/x": 400,
             "declaration/configuration/example.unknown": 404, "declaration/asset/example.alice-only": 404}
    for endpoint, status in cases.items():
        response = ddm(alice, endpoint)
        assert response.status_code == status, (endpoint, response.text)
        assert response.json()["error"]
    assert ddm(bob, "declaration/configuration/example.alice-only").status_code == 404
    assert ddm(alice, "status", b"{not json").status_code == 400
    assert ddm(alice, "status", b'["a list"]').status_code == 400
    assert ddm(alice, "status").status_code == 400
    assert ddm(alice, "tokens", Endpoint=None).status_code == 400
    assert ddm(alice, 7).status_code == 400


def test_ddm_check_ins_are_served_in_front_of_flask_and_the_rest_still_by_flask(app, client, enroll, ddm, device_http,
                                                                                monkeypatch):
    import io

    from mdm_core import plist
    from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE
    from portal.mdm import declarative_connection

    phone = enroll("user")
    served = []
    original = declarative_connection.serve
    monkeypatch.setattr(declarative_connection, "serve",
                        lambda *args: served.append(result := original(*args)) or result)
    fast = ddm(phone, "tokens")
    assert fast.status_code == 200 and served[-1] is not None
    assert fast.headers["X-Content-Type-Options"] == "nosniff", "the app's security headers on the fast path too"
    body = plist.dumps({"MessageType": "DeclarativeManagement", "EnrollmentID": phone.identifier,
                        "Endpoint": "tokens"})
    chunked = client.put("/mdm/checkin", input_stream=io.BytesIO(body), environ_overrides={"wsgi.input_terminated": True},
                         headers={"Transfer-Encoding": "chunked", **phone.headers(body, CHECKIN_CONTENT_TYPE)})
    assert chunked.status_code == 200, chunked.get_data(as_text=True)
    assert chunked.get_json() == fast.json(), "a chunked one is answered by Flask"
    assert served[-1] is None
    phone.checkin(phone.token_update_message(), device_http)  # other check-ins go on to Flask
    assert served[-1] is None
    unsigned = device_http.put(phone.settings.checkin_url, content=body,
                               headers={"Content-Type": CHECKIN_CONTENT_TYPE})
    assert unsigned.status_code == 403 and served[-1] is not None


@pytest.mark.parametrize("case, status", [("text/plain", 415), ("application/json", 415), ("past the limit", 413),
                                          ("Data a string", 400), ("Endpoint with a NUL", 400)])
def test_a_hostile_ddm_check_in_gets_a_clear_4xx_and_the_device_still_syncs(app, enroll, ddm, device_http, case,
                                                                            status):
    from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE

    phone = enroll("user")
    message = {"MessageType": "DeclarativeManagement", "EnrollmentID": phone.identifier, "Endpoint": "status",
               "Data": json.dumps({"StatusItems": {}}).encode()}
    content_type = case if "/" in case else CHECKIN_CONTENT_TYPE
    if case == "past the limit":
        message["Data"] = b" " * app.config["MAX_CONTENT_LENGTH"]
    elif case == "Data a string":
        message["Data"] = "{}"
    elif case == "Endpoint with a NUL":
        message["Endpoint"] = "tokens\x00"
    body = plistlib.dumps(message, fmt=plistlib.FMT_BINARY)  # binary: XML cannot carry a NUL
    response = device_http.put(phone.settings.checkin_url, content=body, headers=phone.headers(body, content_type))
    assert response.status_code == status and response.text
    assert ddm(phone, "tokens").status_code == 200
