"""Asset data and credentials from the admin pages: a file or a credential in the form goes through the same
service as the API's ``data`` and ``credential`` (checked, size-bounded, CSRF-protected, audited), and a
credential is never shown back."""
import io
import json

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from portal.declarations.served import MAX_ASSET_BYTES
from portal.extensions import db
from portal.models import AuditEvent, Declaration
from tests.helpers import identity_p12, page_of as _page, post_form, self_signed

DATA = "com.apple.asset.data"
CERTIFICATE = "com.apple.asset.credential.certificate"


def _post(client, path, data, page="/admin/declarations"):
    return post_form(client, path, data, page, content_type="multipart/form-data")


def _add(client, kind, identifier, **fields):
    return _post(client, "/admin/declarations", {"type": kind, "identifier": identifier, "payload": "{}", **fields})


def _row(app, identifier):
    with app.app_context():
        row = db.session.scalar(select(Declaration).where(Declaration.identifier == identifier))
        if row is not None:
            _ = (row.asset_data, row.credential_sealed)
            db.session.expunge(row)
        return row


def test_an_uploaded_data_file_is_stored_and_served_to_the_device_that_holds_it(app, admin_client, api, enroll, ddm,
                                                                                device_http):
    phone = enroll("user", "alice@example.org")
    content = b"hello from the console\n"
    response = _add(admin_client, DATA, "example.notes", data=(io.BytesIO(content), "notes.txt"),
                    content_type="text/plain")
    assert response.status_code == 303, _page(admin_client, "/admin/declarations")
    row = _row(app, "example.notes")
    assert row.asset_data == content and row.payload["Reference"]["ContentType"] == "text/plain"
    assert row.payload["Reference"]["Size"] == len(content)
    api("PUT", f"/declarations/{row.id}/scope", json={"all_user_enrolled": True})
    url = ddm(phone, "declaration/asset/example.notes").json()["Payload"]["Reference"]["DataURL"]
    assert phone.fetch(url, device_http, as_mdm_request=True).content == content
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "declaration.created")) \
            == "admin@example.org"


def test_a_certificate_asset_takes_only_a_certificate_and_its_media_type_follows_the_file(app, admin_client):
    _add(admin_client, CERTIFICATE, "example.ca", data=(io.BytesIO(b"not a certificate"), "ca.pem"))
    assert "must be one X.509 certificate" in _page(admin_client, "/admin/declarations")
    assert _row(app, "example.ca") is None, "nothing saved"

    certificate, _ = self_signed("Example Root CA")
    created = _add(admin_client, CERTIFICATE, "example.ca",
                   data=(io.BytesIO(certificate.public_bytes(Encoding.PEM)), "ca.pem"))
    row = _row(app, "example.ca")
    assert row.payload["Reference"]["ContentType"] == "application/pem"
    page = created.location
    _post(admin_client, page, {"payload": json.dumps(row.payload),
                               "data": (io.BytesIO(certificate.public_bytes(Encoding.DER)), "ca.cer")}, page=page)
    replaced = _row(app, "example.ca")
    assert replaced.payload["Reference"]["ContentType"] == "application/pkcs1", "DER, as Apple names it"
    assert replaced.server_token != row.server_token
    assert "Saved: devices that have it fetch it again." in _page(admin_client, page)


def test_a_file_over_the_limit_and_a_form_without_csrf_are_refused(app, admin_client):
    _add(admin_client, DATA, "example.big", data=(io.BytesIO(b"x" * (MAX_ASSET_BYTES + 1)), "big.bin"))
    assert "larger than" in _page(admin_client, "/admin/declarations") and _row(app, "example.big") is None
    refused = admin_client.post("/admin/declarations", content_type="multipart/form-data", data={
        "type": DATA, "payload": "{}", "data": (io.BytesIO(b"x"), "x.bin")})
    assert refused.status_code == 400 and _row(app, "example.big") is None


def test_a_credential_entered_on_the_page_is_sealed_and_never_shown_back(app, admin_client):
    secret = "console-entered-s3cret"
    created = _add(admin_client, "com.apple.asset.credential.userpassword", "example.login",
                   credential_user_name="$EMAIL", credential_password=secret)
    page = created.location
    html = _page(admin_client, page)
    assert "credential stored" in html and secret not in html
    row = _row(app, "example.login")
    assert row.credential_sealed and secret not in row.credential_sealed and secret not in json.dumps(row.payload)
    assert row.variables == "EMAIL", "the user name is filled in per device, with the e-mail alone"
    _post(admin_client, page, {"payload": "{}"}, page=page)
    assert _row(app, "example.login").credential_sealed == row.credential_sealed, "empty fields keep it"
    with app.app_context():
        details = json.dumps([e.detail for e in db.session.scalars(select(AuditEvent))])
    assert secret not in details


def test_an_identity_that_does_not_open_with_its_password_is_refused_on_the_page(app, admin_client):
    _add(admin_client, "com.apple.asset.credential.identity", "example.wifi",
         identity=(io.BytesIO(identity_p12(b"right")), "wifi.p12"), identity_password="wrong")
    assert "does not open" in _page(admin_client, "/admin/declarations")
    assert _row(app, "example.wifi") is None
    _add(admin_client, "com.apple.asset.credential.identity", "example.wifi",
         identity=(io.BytesIO(identity_p12(b"right")), "wifi.p12"), identity_password="right")
    assert _row(app, "example.wifi").credential_sealed
