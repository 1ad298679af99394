"""Data and certificate assets served by this server: fetched over the device's MDM identity (``Authentication:
MDM``) at one URL for every device, so their declaration is stored shared; refused to an unsigned request (403),
to another enrollment and to a device whose set does not hold them (404). The per-device URL assets named before
still serves the device it names, and migration 0019 moves stored assets over once."""
import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from portal.declarations.documents import shared_document
from portal.declarations.served import device_url
from portal.declarations.sync import sync
from portal.extensions import db
from portal.models import DdmEnrollment, Declaration, DeviceAccount
from tests.helpers import self_signed

DATA = "com.apple.asset.data"
CERTIFICATE = "com.apple.asset.credential.certificate"
TEST = "com.apple.configuration.management.test"
CONTENT = b'{"greeting": "hello"}'


def _data(content: bytes = CONTENT) -> str:
    return base64.b64encode(content).decode()


def _stored(app, identifier):
    with app.app_context():
        row = db.session.scalar(select(Declaration).where(Declaration.identifier == identifier))
        db.session.expunge(row)
        return row


def _stale(app, phone, device_row) -> bool:
    with app.app_context():
        return db.session.get(DdmEnrollment, device_row(phone).id).stale


def test_a_data_asset_reaches_the_devices_that_hold_it_over_their_mdm_identity_and_its_declaration_is_shared(
        app, api, enroll, declare, ddm, device_http):
    alice, carol, bob = (enroll("user", f"{name}@example.org") for name in ("alice", "carol", "bob"))
    asset = declare(DATA, {"Reference": {"ContentType": "application/json"}}, "example.notes", data=_data())
    assert asset["payload"]["Authentication"] == {"Type": "MDM"}
    reference = asset["payload"]["Reference"]
    url = f"{app.config['PUBLIC_URL']}/mdm/ddm/assets/example.notes"
    assert reference == {"DataURL": url, "ContentType": "application/json", "Size": len(CONTENT),
                         "Hash-SHA-256": hashlib.sha256(CONTENT).hexdigest()}, "no secret in the URL; size and hash kept"
    test = declare(TEST, {"Echo": "hi", "EchoDataAssetReference": "example.notes"}, "example.test")
    api("PUT", f"/declarations/{test['id']}/scope", json={"users": ["alice@example.org", "carol@example.org"]})
    for phone in (alice, carol, bob):
        phone.poll(device_http)

    for phone in (alice, carol):
        assert phone.ddm.asset_data["example.notes"] == CONTENT, "fetched with a signed GET, hash and type checked"
        assert phone.ddm.state_of("example.notes")["active"] and not phone.ddm.asset_errors
    assert "example.notes" not in bob.ddm.held
    stored = _stored(app, "example.notes").document
    assert stored is not None, "the same JSON for every device, stored"
    assert [ddm(phone, "declaration/asset/example.notes").content for phone in (alice, carol)] == [stored.encode()] * 2

    served = alice.fetch(url, device_http, as_mdm_request=True)
    assert served.status_code == 200 and served.content == CONTENT
    assert served.headers["Content-Type"] == "application/json"
    assert (served.headers["Content-Disposition"], served.headers["X-Content-Type-Options"],
            served.headers["Cache-Control"]) == ("attachment", "nosniff", "private")
    assert device_http.get(url).status_code == 403, "an unsigned request is refused"
    forged = alice.headers(b"", None)
    forged["Mdm-Signature"] = bob.headers(b"x", None)["Mdm-Signature"]
    assert device_http.get(url, headers=forged).status_code == 403, "a signature over other bytes"
    refused = bob.fetch(url, device_http, as_mdm_request=True)
    assert refused.status_code == 404 and "example.notes" in refused.json()["error"], \
        "another enrollment, proven by its own identity, is refused"
    api("PUT", f"/declarations/{test['id']}/scope", json={"users": ["alice@example.org"]})
    assert carol.fetch(url, device_http, as_mdm_request=True).status_code == 404, "no longer in carol's set"
    assert alice.fetch(url, device_http, as_mdm_request=True).status_code == 200


def test_a_certificate_asset_is_served_over_mdm_as_the_media_type_of_its_encoding(app, api, enroll, declare,
                                                                                    device_http):
    phone = enroll("user", "alice@example.org")
    certificate, _ = self_signed("Example Root CA")
    der = certificate.public_bytes(Encoding.DER)
    asset = declare(CERTIFICATE, {}, "example.root", data=_data(der))
    trust = declare("com.apple.configuration.security.certificate", {"CredentialAssetReference": "example.root"},
                    "example.trust")
    api("PUT", f"/declarations/{trust['id']}/scope", json={"all_user_enrolled": True})
    phone.poll(device_http)
    assert phone.ddm.asset_data["example.root"] == der and phone.ddm.state_of("example.trust")["active"]
    served = phone.fetch(asset["payload"]["Reference"]["DataURL"], device_http, as_mdm_request=True)
    assert (served.status_code, served.headers["Content-Type"], served.content) == (200, "application/pkcs1", der)
    assert _stored(app, "example.root").document is not None


def test_the_per_device_url_assets_named_before_still_serves_the_device_it_names(app, api, enroll, declare,
                                                                                 device_http, device_row):
    alice, bob = enroll("user", "alice@example.org"), enroll("user", "bob@example.org")
    asset = declare(DATA, {}, "example.notes", data=_data())
    api("PUT", f"/declarations/{asset['id']}/scope", json={"users": ["alice@example.org"]})
    with app.app_context():
        alices, bobs = (device_url(asset["payload"]["Reference"]["DataURL"], device_row(phone).id)
                        for phone in (alice, bob))
    served = device_http.get(alices)
    assert served.status_code == 200 and served.content == CONTENT
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert device_http.get(alices.replace("key=", "key=0")).status_code == 404, "another key"
    assert device_http.get(bobs).status_code == 404, "bob's own key, but his set does not hold it"
    assert device_http.get(alices.split("&")[0]).status_code == 404, "a device id without its key"


@pytest.mark.parametrize("path", ["/mdm/ddm/assets/example.notes?device={id}&key=%C3%A9",
                                  "/mdm/ddm/legacy/example.notes?device={id}&key=%C3%A9",
                                  "/mdm/ddm/assets/example.%00notes", "/mdm/ddm/credentials/example.%00notes"])
def test_a_served_url_with_a_non_ascii_key_or_a_nul_in_its_identifier_gets_404_not_a_500(app, enroll, client,
                                                                                         device_row, path):
    phone = enroll("user")  # werkzeug's client: httpx's WSGI transport garbles a non-ASCII URL before the app
    response = client.get(path.format(id=device_row(phone).id), headers=phone.headers(b"", None))
    assert response.status_code == 404 and response.get_json()["error"]


def _later_schema(add):
    """Add (or drop again) what 0020, 0021, 0023 and 0025 add, which the running code reads and writes, while the database
    is downgraded to an earlier revision."""
    # a pooled SQLite connection parses DDL against the schema it last read, which may still hold the columns
    # the downgrade dropped ("duplicate column name"): new connections read it afresh
    db.session.close()
    db.engine.dispose()
    columns = [(table, "status_identifier VARCHAR(255)") for table in ("device_apps", "device_certificates")] + [
        ("ddm_enrollments", f"{kind}_list_digest VARCHAR(32)") for kind in ("apps", "certificates", "accounts")] + [
        ("ddm_enrollments", "passcode_reported_at TIMESTAMP WITH TIME ZONE"),
        ("declarations", "variables VARCHAR(64) DEFAULT '' NOT NULL")]
    for table, column in columns:
        db.session.execute(text(f"ALTER TABLE {table} ADD COLUMN {column}" if add
                                else f"ALTER TABLE {table} DROP COLUMN {column.split()[0]}"))
    db.session.commit()
    (DeviceAccount.__table__.create if add else DeviceAccount.__table__.drop)(db.engine)


def test_migration_0019_moves_stored_assets_to_mdm_authentication_and_their_holders_fetch_them_again(
        app, api, enroll, declare, device_http, device_row):
    phone = enroll("user", "alice@example.org")
    asset = declare(DATA, {}, "example.notes", data=_data())
    with app.app_context():
        downgrade(revision="0018")  # the asset as 0018 stored it: a per-device URL, no shared JSON
        _later_schema(add=True)
    try:
        before = _stored(app, "example.notes")
        assert before.payload["Authentication"] == {"Type": "None"} and before.document is None
        assert before.server_token != asset["server_token"]
        api("PUT", f"/declarations/{asset['id']}/scope", json={"all_user_enrolled": True})
        phone.poll(device_http)
        assert phone.ddm.held["example.notes"].server_token == before.server_token
        assert not _stale(app, phone, device_row)
    finally:
        with app.app_context():
            _later_schema(add=False)
            upgrade()

    after = _stored(app, "example.notes")
    assert (after.payload, after.server_token) == (asset["payload"], asset["server_token"]), \
        "as the API stores a new one"
    assert after.document == shared_document(DATA, "example.notes", after.server_token, after.payload,
                                             per_device=False)
    assert _stale(app, phone, device_row), "its holders are synced again"
    with app.app_context():
        sync(db.session)
        db.session.commit()
    fetched = len(phone.ddm.fetched)
    phone.poll(device_http)
    assert phone.ddm.fetched[fetched:] == ["example.notes"], "its server token changed once: fetched again"
    assert phone.ddm.asset_data["example.notes"] == CONTENT and not phone.ddm.asset_errors
