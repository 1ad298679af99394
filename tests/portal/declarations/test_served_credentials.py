"""Credential assets served by this server: sealed at rest, never shown back, fetched by the device that holds
them over its MDM identity (``Authentication: MDM``), refused to another enrollment and to an unsigned request."""
import base64
import json

from sqlalchemy import select, text

from portal.extensions import db
from portal.models import AuditEvent, Declaration, DeclarationStatus
from tests.helpers import identity_p12
from tests.portal.declarations.conftest import MAIL

USER_PASSWORD = "com.apple.asset.credential.userpassword"
IDENTITY = "com.apple.asset.credential.identity"
SECRET = "Pa$Word-not-to-be-seen"
MAIL_WITH_CREDENTIAL = {**MAIL, "IncomingServer": {**MAIL["IncomingServer"],
                                                   "AuthenticationCredentialsAssetReference": "example.credential"}}


def _everything_stored(app) -> str:
    with app.app_context():
        return repr([list(row) for table in ("declarations", "audit_events")
                     for row in db.session.execute(text(f"SELECT * FROM {table}"))])


def test_a_user_name_and_password_reach_only_the_device_that_holds_them_over_its_mdm_identity(
        app, api, enroll, declare, device_http):
    alice, bob = enroll("user", "alice@example.org"), enroll("user", "bob@example.org")
    asset = declare(USER_PASSWORD, {}, "example.credential", credential={"UserName": "$USERNAME", "Password": SECRET})
    reference = asset["payload"]["Reference"]
    assert asset["payload"]["Authentication"] == {"Type": "MDM"}
    assert reference["DataURL"].startswith(f"{app.config['PUBLIC_URL']}/mdm/ddm/credentials/example.credential?")
    declare("com.apple.asset.useridentity", {"EmailAddress": "$MANAGED_APPLE_ID"}, "example.identity")
    mail = declare("com.apple.configuration.account.mail", MAIL_WITH_CREDENTIAL, "example.mail")
    api("PUT", f"/declarations/{mail['id']}/scope", json={"users": ["alice@example.org"]})
    for phone in (alice, bob):
        phone.poll(device_http)

    assert json.loads(alice.ddm.asset_data["example.credential"]) == {"UserName": "alice", "Password": SECRET}, \
        "fetched over the phone's MDM identity, its person's values filled in the user name only"
    assert alice.ddm.state_of("example.credential")["active"] and not alice.ddm.asset_errors
    assert "example.credential" not in bob.ddm.held
    assert bob.fetch(reference["DataURL"], device_http, as_mdm_request=True).status_code == 404, \
        "another enrollment, proven by its own identity, is refused"
    assert device_http.get(reference["DataURL"]).status_code == 403, "an unsigned request is refused"
    forged = alice.headers(b"", None)
    forged["Mdm-Signature"] = bob.headers(b"x", None)["Mdm-Signature"]
    assert device_http.get(reference["DataURL"], headers=forged).status_code == 403, "a signature over other bytes"

    shown = [api("GET", f"/declarations/{asset['id']}").get_data(as_text=True),
             api("GET", "/declarations").get_data(as_text=True), _everything_stored(app)]
    assert not any(SECRET in page or "Pa$$Word" in page for page in shown), "never shown back, sealed at rest"

    fetched = len(alice.ddm.fetched)
    changed = api("PUT", f"/declarations/{asset['id']}", json={"payload": {}, "credential": {
        "UserName": "$USERNAME", "Password": "a new one"}}).get_json()
    assert changed["changed"] is True
    alice.poll(device_http)
    assert alice.ddm.fetched[fetched:] == ["example.credential"], "a new password: that asset alone is fetched again"
    assert json.loads(alice.ddm.asset_data["example.credential"])["Password"] == "a new one"
    kept = api("PUT", f"/declarations/{asset['id']}", json={"payload": {}}).get_json()
    assert kept["changed"] is False, "a PUT without credential keeps the stored one"


def test_bad_credentials_are_refused_naming_the_key_and_nothing_is_stored(app, api):
    cases = [({"type": USER_PASSWORD, "credential": {"Password": "x"}}, 400, "UserName"),
             ({"type": USER_PASSWORD, "credential": {"UserName": "a", "Password": 5}}, 400, "Password"),
             ({"type": USER_PASSWORD, "credential": "alice:secret"}, 400, "JSON object"),
             ({"type": USER_PASSWORD, "credential": {"UserName": "$NICKNAME"}}, 422, "$NICKNAME"),
             ({"type": "com.apple.asset.data", "credential": {"UserName": "a"}}, 400, "only for"),
             ({"type": IDENTITY, "credential": {"Password": "x", "Identity": "not base64!"}}, 400, "Base64"),
             ({"type": IDENTITY, "credential": {"Password": "wrong", "Identity": base64.b64encode(
                 identity_p12(b"right")).decode()}}, 400, "does not open")]
    for document, status, message in cases:
        response = api("POST", "/declarations", json={"payload": {}, **document})
        assert response.status_code == status, (document, response.get_json())
        assert message in json.dumps(response.get_json()["detail"]), (document, response.get_json())
    with app.app_context():
        assert db.session.scalar(select(Declaration.id)) is None


def test_an_identity_credential_is_served_with_its_pkcs12_and_keeps_accessible(app, api, enroll, declare, device_http):
    phone = enroll("user", "alice@example.org")
    p12 = identity_p12(b"open sesame")
    asset = declare(IDENTITY, {"Accessible": "AfterFirstUnlock"}, "example.wifi-identity",
                    credential={"Password": "open sesame", "Identity": base64.b64encode(p12).decode()})
    assert asset["payload"]["Accessible"] == "AfterFirstUnlock"
    api("PUT", f"/declarations/{asset['id']}/scope", json={"all_user_enrolled": True})
    response = phone.fetch(asset["payload"]["Reference"]["DataURL"], device_http, as_mdm_request=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    served = response.json()
    assert served["Password"] == "open sesame" and base64.b64decode(served["Identity"]) == p12
    assert "open sesame" not in _everything_stored(app)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "declaration.created"))


def test_a_credential_that_no_longer_opens_is_not_served_and_must_be_sent_again(app, api, enroll, declare,
                                                                               device_http):
    phone = enroll("user", "alice@example.org")
    asset = declare(USER_PASSWORD, {}, "example.credential", credential={"UserName": "alice", "Password": SECRET})
    api("PUT", f"/declarations/{asset['id']}/scope", json={"all_user_enrolled": True})
    with app.app_context():
        row = db.session.get(Declaration, asset["id"])
        row.credential_sealed = row.credential_sealed[:-8] + "AAAAAAA="  # as under another SECRET_KEY
        db.session.commit()
    response = phone.fetch(asset["payload"]["Reference"]["DataURL"], device_http, as_mdm_request=True)
    assert response.status_code == 404 and "enter it again" in response.json()["error"]
    phone.poll(device_http)
    with app.app_context():
        status = db.session.scalar(select(DeclarationStatus).where(DeclarationStatus.identifier == "example.credential"))
        assert (status.active, status.valid) == (False, "invalid")
        assert [reason["Code"] for reason in status.reasons] == ["Error.AssetCannotBeDownloaded"], \
            "the phone could not download it and said so"
    response = api("PUT", f"/declarations/{asset['id']}", json={"payload": {}})
    assert response.status_code == 409 and "send it again" in response.get_json()["detail"]


def test_credential_null_hands_the_asset_back_to_the_organisations_own_url(app, api, declare):
    asset = declare(USER_PASSWORD, {}, "example.credential", credential={"UserName": "alice", "Password": SECRET})
    own = {"Reference": {"DataURL": "https://vault.example.org/credential.json", "ContentType": "application/json"}}
    response = api("PUT", f"/declarations/{asset['id']}", json={"payload": own, "credential": None})
    assert response.status_code == 200 and response.get_json()["payload"] == own
    with app.app_context():
        assert db.session.get(Declaration, asset["id"]).credential_sealed is None
