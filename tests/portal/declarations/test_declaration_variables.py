"""Declarations filled in per device: a device's server token of one moves when a value it uses changes, and only
then (a person's new name is fetched where their name is used, nowhere else); 0025 keeps the names of the values
each stored declaration uses."""
import plistlib

from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text, update

from portal.auth import demo_idp
from portal.declarations.reported import status_counts
from portal.declarations.sets import ServedTokens
from portal.person_values import values_of
from portal.declarations.sync import sync
from portal.extensions import db
from mdm_core import cms
from portal.models import Command, DdmEnrollment, Declaration, Profile
from portal.pki import profile_signer
from tests.helpers import PROFILE_CORPUS
from tests.portal.declarations.conftest import IDENTITY, MAIL

USER_IDENTITY, MAIL_ACCOUNT = "com.apple.asset.useridentity", "com.apple.configuration.account.mail"
USER_PASSWORD = "com.apple.asset.credential.userpassword"
#: Filled in with the e-mail alone, and needing no asset.
MAIL_BY_ADDRESS = {**{k: v for k, v in MAIL.items() if k != "UserIdentityAssetReference"}, "VisibleName": "$EMAIL"}


def _with_credential(identifier):
    """A mail account signing in with a credential asset (and no identity asset)."""
    return {**MAIL_BY_ADDRESS, "VisibleName": "Work", "IncomingServer": {
        **MAIL["IncomingServer"], "AuthenticationCredentialsAssetReference": identifier}}


def _sync_commands(app):
    with app.app_context():
        return db.session.scalars(select(Command.command_uuid)
                                  .where(Command.request_type == "DeclarativeManagement")).all()


def _worker_syncs(app):
    with app.app_context():
        sync(db.session)
        db.session.commit()


def _alice_signs_in_as(monkeypatch, sign_in_with_groups, name):
    """Alice signs in again, the IdP now naming her ``name`` (her e-mail and Managed Apple ID the same)."""
    alice = demo_idp._USERS["demo-alice"]
    monkeypatch.setitem(demo_idp._USERS, "demo-alice", demo_idp.DemoUser(alice.sub, alice.email, name, alice.groups))
    sign_in_with_groups("demo-alice")


def test_a_new_name_is_fetched_only_where_the_name_is_used(app, api, enroll, declare, device_http,
                                                           sign_in_with_groups, monkeypatch):
    sign_in_with_groups("demo-alice")
    phone = enroll("user", "alice@example.org")
    declare(USER_IDENTITY, IDENTITY, "example.identity")  # $FULL_NAME and $MANAGED_APPLE_ID
    for identifier, payload in (("example.mail", MAIL), ("example.mailbox", MAIL_BY_ADDRESS)):
        declaration = declare(MAIL_ACCOUNT, payload, identifier)
        assert api("PUT", f"/declarations/{declaration['id']}/scope",
                   json={"all_user_enrolled": True}).status_code == 200
    phone.poll(device_http)
    assert {"example.identity", "example.mail", "example.mailbox"} <= set(phone.ddm.held)
    assert phone.ddm.held["example.mailbox"].payload["VisibleName"] == "alice@example.org"
    commands, fetched = len(_sync_commands(app)), len(phone.ddm.fetched)

    sign_in_with_groups("demo-alice")  # the same values: nothing to send
    _worker_syncs(app)
    assert len(_sync_commands(app)) == commands

    _alice_signs_in_as(monkeypatch, sign_in_with_groups, "Alice Liddell")
    _worker_syncs(app)
    assert len(_sync_commands(app)) == commands + 1, "her name is in her identity: the device is told"
    phone.poll(device_http)
    assert phone.ddm.fetched[fetched:] == ["example.identity"], "the mailbox filled in with her e-mail is not"
    assert phone.ddm.held["example.identity"].payload["FullName"] == "Alice Liddell"


def test_a_new_name_no_declaration_uses_sends_nothing(app, api, enroll, declare, device_http, sign_in_with_groups,
                                                     monkeypatch):
    sign_in_with_groups("demo-alice")
    phone = enroll("user", "alice@example.org")
    mailbox = declare(MAIL_ACCOUNT, MAIL_BY_ADDRESS, "example.mailbox")
    api("PUT", f"/declarations/{mailbox['id']}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    commands, fetched = _sync_commands(app), len(phone.ddm.fetched)
    with app.app_context():
        token = db.session.scalar(select(DdmEnrollment.declarations_token))

    _alice_signs_in_as(monkeypatch, sign_in_with_groups, "Alice Liddell")
    with app.app_context():
        assert db.session.scalar(select(DdmEnrollment.stale)), "her values changed: her sets are computed again"
    _worker_syncs(app)
    with app.app_context():
        assert db.session.scalar(select(DdmEnrollment.declarations_token)) == token
    assert _sync_commands(app) == commands, "no declaration of hers uses her name"
    phone.poll(device_http)
    assert len(phone.ddm.fetched) == fetched


def _agreeing_tokens(ddm, phone) -> dict[str, str]:
    """Each declaration's server token in the device's manifest, asserting the declaration itself says the same."""
    lists = ddm(phone, "declaration-items").json()["Declarations"]
    tokens = {}
    for kind, items in (("configuration", lists["Configurations"]), ("asset", lists["Assets"])):
        for item in items:
            fetched = ddm(phone, f"declaration/{kind}/{item['Identifier']}").json()["ServerToken"]
            assert fetched == item["ServerToken"], f"{item['Identifier']}: the manifest and the declaration disagree"
            tokens[item["Identifier"]] = fetched
    return tokens


def _stale(app) -> dict[int, bool]:
    with app.app_context():
        return dict(db.session.execute(select(DdmEnrollment.device_id, DdmEnrollment.stale)).all())


def test_migration_0025_keeps_the_names_each_declaration_uses_and_resyncs_the_devices_whose_tokens_move(
        app, api, enroll, declare, ddm, device_row, sign_in_with_groups):
    sign_in_with_groups("demo-alice")
    sign_in_with_groups("demo-carol")
    alice, carol = enroll("user", "alice@example.org"), enroll("user", "carol@example.org")
    declare(USER_IDENTITY, IDENTITY, "example.identity")
    declare(USER_PASSWORD, {}, "example.everything", credential={  # every variable: its tokens are as before 0025
        "UserName": "$USERNAME $EMAIL $FULL_NAME $MANAGED_APPLE_ID $ENROLLMENT_ID", "Password": "s3cret"})
    declare(USER_PASSWORD, {}, "example.login", credential={"UserName": "$USERNAME", "Password": "s3cret"})
    for identifier, payload, person in (("example.mail", MAIL, "alice"), ("example.mailbox", MAIL_BY_ADDRESS, "alice"),
                                        ("example.carols", _with_credential("example.everything"), "carol")):
        declaration = declare(MAIL_ACCOUNT, payload, identifier)
        api("PUT", f"/declarations/{declaration['id']}/scope", json={"users": [f"{person}@example.org"]})
    passcode = declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.passcode")
    api("PUT", f"/declarations/{passcode['id']}/scope", json={"all_user_enrolled": True})
    _worker_syncs(app)
    tokens = [_agreeing_tokens(ddm, phone) for phone in (alice, carol)]
    expected = {device_row(alice).id: True, device_row(carol).id: False}
    with app.app_context():
        downgrade(revision="0024")
        stored = dict(db.session.execute(text("SELECT identifier, has_variables FROM declarations")).all())
        assert stored == {"example.identity": True, "example.mail": False, "example.mailbox": True,
                          "example.everything": True, "example.login": True, "example.carols": False,
                          "example.passcode": False}
    assert _stale(app) == expected, "alice's identity and mailbox get tokens of every value again"
    with app.app_context():
        db.session.execute(text("UPDATE ddm_enrollments SET stale = false"))
        db.session.commit()
        db.session.close()
        upgrade()
        names = dict(db.session.execute(select(Declaration.identifier, Declaration.variables)).all())
    every = "EMAIL ENROLLMENT_ID FULL_NAME MANAGED_APPLE_ID USERNAME"
    assert names == {"example.identity": "FULL_NAME MANAGED_APPLE_ID", "example.mail": "", "example.mailbox": "EMAIL",
                     "example.everything": every, "example.carols": "", "example.passcode": "",
                     "example.login": every}, "a sealed credential is not opened: its tokens stay those of every value"
    assert _stale(app) == expected, "alice's identity and mailbox have new tokens; carol's stay"
    _worker_syncs(app)
    assert [_agreeing_tokens(ddm, phone) for phone in (alice, carol)] == tokens


def test_saving_a_credential_0025_could_not_open_gives_it_its_own_names_and_its_devices_new_tokens(
        app, api, enroll, declare, ddm, sign_in_with_groups):
    sign_in_with_groups("demo-alice")
    alice = enroll("user", "alice@example.org")
    login = declare(USER_PASSWORD, {}, "example.login", credential={"UserName": "$USERNAME", "Password": "s3cret"})
    mail = declare(MAIL_ACCOUNT, _with_credential("example.login"), "example.mail")
    api("PUT", f"/declarations/{mail['id']}/scope", json={"users": ["alice@example.org"]})
    with app.app_context():  # as 0025 leaves a sealed credential
        db.session.execute(update(Declaration).where(Declaration.identifier == "example.login")
                           .values(variables="EMAIL ENROLLMENT_ID FULL_NAME MANAGED_APPLE_ID USERNAME"))
        db.session.execute(update(DdmEnrollment).values(stale=True))  # its stored answers then computed so
        db.session.commit()
    _worker_syncs(app)
    before = _agreeing_tokens(ddm, alice)

    saved = api("PUT", f"/declarations/{login['id']}", json={"payload": {}})
    assert saved.status_code == 200 and saved.get_json()["changed"] is True, "each device's token of it moves"
    _worker_syncs(app)
    after = _agreeing_tokens(ddm, alice)
    assert {i for i in after if after[i] != before[i]} == {"example.login"}


def test_a_declaration_filled_in_per_device_is_installed_with_that_devices_token_and_pending_after_a_new_value(
        app, api, enroll, declare, device_http, sign_in_with_groups, monkeypatch):
    sign_in_with_groups("demo-alice")
    phone = enroll("user", "alice@example.org")
    mailbox = declare(MAIL_ACCOUNT, {**MAIL_BY_ADDRESS, "VisibleName": "$FULL_NAME"}, "example.mailbox")
    api("PUT", f"/declarations/{mailbox['id']}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    status = api("GET", f"/declarations/{mailbox['id']}/status").get_json()
    [device] = status["devices"]
    assert device["server_token"] != mailbox["server_token"], "the device's own token, not the stored one"
    assert (device["status"], device["current"], status["counts"]["installed"]) == ("installed", True, 1)

    _alice_signs_in_as(monkeypatch, sign_in_with_groups, "Alice Liddell")
    status = api("GET", f"/declarations/{mailbox['id']}/status").get_json()
    assert (status["devices"][0]["status"], status["counts"]["pending"]) == ("pending", 1), \
        "its version has her former name"
    _worker_syncs(app)
    phone.poll(device_http)
    status = api("GET", f"/declarations/{mailbox['id']}/status").get_json()
    assert (status["devices"][0]["current"], status["counts"]["installed"]) == (True, 1)


def test_the_values_of_more_devices_than_one_statement_takes_are_read(app):
    with app.app_context():
        assert values_of(db.session, range(1, 70_001)) == {}, "a driver takes at most 65,535 parameters a statement"


def test_the_library_list_counts_what_devices_report_without_computing_their_tokens(
        app, api, enroll, declare, device_http, sign_in_with_groups, monkeypatch):
    sign_in_with_groups("demo-alice")
    phone = enroll("user", "alice@example.org")
    mailbox = declare(MAIL_ACCOUNT, MAIL_BY_ADDRESS, "example.mailbox")
    api("PUT", f"/declarations/{mailbox['id']}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    monkeypatch.setattr(ServedTokens, "of", None)  # called, it would fail
    with app.app_context():
        [counts] = status_counts(db.session, [db.session.get(Declaration, mailbox["id"])], states=False).values()
    assert counts == {"assigned": 1, "active": 1, "inactive": 0, "invalid": 0, "removing": 0}


def _named_wifi(name_variable="$FULL_NAME") -> bytes:
    """A Wi-Fi profile whose name on the phone carries the person's name."""
    profile = plistlib.loads((PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    profile.update(PayloadIdentifier="com.example.wifi.named", PayloadDisplayName=f"Wi-Fi for {name_variable}")
    return plistlib.dumps(profile)


def _legacy(api, declare, data, identifier):
    profile = api("POST", "/profiles", data=data).get_json()
    legacy = declare("com.apple.configuration.legacy", {}, identifier, profile_id=profile["id"])
    assert api("PUT", f"/declarations/{legacy['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    return profile


def test_a_legacy_profile_filled_in_with_the_name_is_fetched_again_after_a_new_name(
        app, api, enroll, declare, ddm, device_http, sign_in_with_groups, monkeypatch):
    sign_in_with_groups("demo-alice")
    phone = enroll("user", "alice@example.org")
    _legacy(api, declare, _named_wifi(), "example.named")
    exchange = (PROFILE_CORPUS / "exchange.mobileconfig").read_bytes()  # $EMAIL, $MANAGED_APPLE_ID
    _legacy(api, declare, exchange, "example.exchange")
    phone.poll(device_http)
    assert {"example.named", "example.exchange"} <= set(phone.ddm.held)
    fetched = len(phone.ddm.fetched)

    _alice_signs_in_as(monkeypatch, sign_in_with_groups, "Alice Liddell")
    _worker_syncs(app)
    phone.poll(device_http)
    assert phone.ddm.fetched[fetched:] == ["example.named"], "not the Exchange profile: her name is not in it"
    url = ddm(phone, "declaration/configuration/example.named").json()["Payload"]["ProfileURL"]
    assert b"Wi-Fi for Alice Liddell" in device_http.get(url).content


def test_migration_0027_gives_each_profile_and_legacy_declaration_the_names_they_use(
        app, api, enroll, declare, ddm, device_row, sign_in_with_groups):
    sign_in_with_groups("demo-alice")
    alice = enroll("user", "alice@example.org")
    named = _legacy(api, declare, _named_wifi(), "example.named")
    exchange = api("POST", "/profiles", data=(PROFILE_CORPUS / "exchange.mobileconfig").read_bytes()).get_json()
    binary = api("POST", "/profiles", data=plistlib.dumps(plistlib.loads(_named_wifi("$USERNAME")) | {
        "PayloadIdentifier": "com.example.wifi.binary"}, fmt=plistlib.FMT_BINARY)).get_json()
    with app.app_context():
        signed_bytes = cms.sign(_named_wifi("$ENROLLMENT_ID").replace(b"com.example.wifi.named",
                                                                      b"com.example.wifi.signed"), profile_signer())
    signed = api("POST", "/profiles", data=signed_bytes).get_json()
    plain = _legacy(api, declare, (PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes(), "example.plain")
    _worker_syncs(app)
    tokens = _agreeing_tokens(ddm, alice)
    expected = {named["id"]: "FULL_NAME", exchange["id"]: "EMAIL MANAGED_APPLE_ID", binary["id"]: "USERNAME",
                signed["id"]: "ENROLLMENT_ID", plain["id"]: ""}
    with app.app_context():
        assert dict(db.session.execute(select(Profile.id, Profile.variables)).all()) == expected
        db.session.close()  # the migration alters the tables this transaction read
        downgrade(revision="0026")
        legacy = dict(db.session.execute(text("SELECT identifier, variables FROM declarations")).all())
        assert legacy == {"example.named": "", "example.plain": ""}, "0026 fills in a legacy profile when fetched"
    assert _stale(app) == {device_row(alice).id: True}, "the named Wi-Fi's token of her device moves back"
    with app.app_context():
        db.session.execute(text("UPDATE ddm_enrollments SET stale = false"))
        db.session.commit()
        db.session.close()
        upgrade()
        assert dict(db.session.execute(select(Profile.id, Profile.variables)).all()) == expected
        assert dict(db.session.execute(select(Declaration.identifier, Declaration.variables)).all()) == {
            "example.named": "FULL_NAME", "example.plain": ""}
    assert _stale(app) == {device_row(alice).id: True}
    _worker_syncs(app)
    assert _agreeing_tokens(ddm, alice) == tokens
