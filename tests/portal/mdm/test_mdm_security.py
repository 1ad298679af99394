"""Device endpoints refuse what is unsigned, forged, tampered, replayed or malformed, and lose nothing."""
import base64

import pytest
from sqlalchemy import select

from mdm_core import cms, plist
from mdm_core.ca import create_ca, issue_certificate, Identity
from mdm_core.simulator.device import SimulatedDevice
from portal.extensions import db
from portal.models import Command, Device
from portal.pki import device_ca

CHECKIN = "application/x-apple-aspen-mdm-checkin"
CONNECT = "application/x-apple-aspen-mdm"


def _signed_headers(identity, body, content_type):
    signature = base64.b64encode(cms.sign(body, identity, detached=True)).decode()
    return {"Content-Type": content_type, "Mdm-Signature": signature}


def _minted_profile(device_http, api_token, managed_apple_id="alice@example.org", token_name="tests"):
    token = api_token(token_name)
    return device_http.post("/api/v1/enrollment-profiles", headers={"Authorization": f"Bearer {token}"},
                            json={"enrollment_type": "user", "managed_apple_id": managed_apple_id}).content


def _phone_with_identity(device_http, profile):
    """A phone that installed ``profile`` and obtained its identity over SCEP, but has not checked in."""
    phone = SimulatedDevice()
    phone.accept_profile(profile)
    phone.obtain_identity(device_http)
    return phone


def _state(app):
    with app.app_context():
        return db.session.execute(select(Device.id, Device.status, Device.push_token, Device.last_seen_at)
                                  .order_by(Device.id)).all()


def test_unsigned_request_is_refused_with_403(enroll, device_http):
    phone = enroll()
    body = plist.dumps(phone.idle_report())
    response = device_http.put("/mdm/connect", content=body, headers={"Content-Type": CONNECT})
    assert response.status_code == 403
    assert "missing signature" in response.text


def test_signature_from_a_foreign_ca_is_refused(app, enroll, device_http):
    phone = enroll()
    rogue_ca = create_ca("Rogue CA", "Evil")
    rogue_key = phone.identity.private_key
    rogue_cert = issue_certificate(rogue_ca, rogue_key.public_key(), phone.identity.certificate.subject, days=30)
    before = _state(app)
    body = plist.dumps(phone.idle_report())
    response = device_http.put("/mdm/connect", content=body,
                               headers=_signed_headers(Identity(rogue_cert, rogue_key), body, CONNECT))
    assert response.status_code == 403
    assert "not issued by this server" in response.text
    assert _state(app) == before, "nothing changed"


def test_body_tampered_after_signing_is_refused(enroll, device_http):
    phone = enroll()
    body = plist.dumps(phone.token_update_message())
    headers = _signed_headers(phone.identity, body, CHECKIN)
    tampered = body.replace(phone.push_magic.encode(), b"00000000-0000-0000-0000-000000000000")
    response = device_http.put("/mdm/checkin", content=tampered, headers=headers)
    assert response.status_code == 403
    assert "does not match body" in response.text


def test_valid_signature_replayed_for_another_device_is_refused(app, enroll, device_http):
    alice = enroll("user", "alice@example.org")
    mallory = enroll("user", "mallory@example.org")
    before = _state(app)
    # Mallory signs correctly with her own certificate but claims Alice's EnrollmentID.
    forged = dict(mallory.token_update_message(), EnrollmentID=alice.enrollment_id)
    body = plist.dumps(forged)
    response = device_http.put("/mdm/checkin", content=body, headers=_signed_headers(mallory.identity, body, CHECKIN))
    assert response.status_code == 403
    assert "does not match the enrollment" in response.text
    idle = plist.dumps(dict(mallory.idle_report(), EnrollmentID=alice.enrollment_id))
    response = device_http.put("/mdm/connect", content=idle, headers=_signed_headers(mallory.identity, idle, CONNECT))
    assert response.status_code == 403
    assert _state(app) == before


def test_authenticate_with_a_certificate_bound_to_another_enrollment_is_refused(enroll, device_http):
    alice = enroll("user", "alice@example.org")
    forged = dict(alice.authenticate_message(), EnrollmentID="FRESH-ENROLLMENT-ID")
    body = plist.dumps(forged)
    response = device_http.put("/mdm/checkin", content=body, headers=_signed_headers(alice.identity, body, CHECKIN))
    assert response.status_code == 403
    assert "belongs to another enrollment" in response.text


def test_user_certificate_cannot_authenticate_as_a_device_enrollment(enroll, device_http):
    alice = enroll("user")
    message = {"MessageType": "Authenticate", "Topic": alice.settings.topic, "UDID": "00008030-AAAA"}
    body = plist.dumps(message)
    response = device_http.put("/mdm/checkin", content=body, headers=_signed_headers(alice.identity, body, CHECKIN))
    assert response.status_code == 403


@pytest.mark.parametrize(("body", "reason"), [
    (b"this is not a plist", "malformed check-in"),
    (plist.dumps({"MessageType": "Unheard", "Topic": "x", "EnrollmentID": "E"}), "malformed check-in"),
    (plist.dumps({"MessageType": "GetToken", "Topic": "x", "EnrollmentID": "E"}), "not supported"),
    (plist.dumps({"MessageType": "TokenUpdate", "EnrollmentID": "E"}), "malformed check-in"),
    (plist.dumps({"MessageType": "TokenUpdate", "Topic": 7, "EnrollmentID": "E", "Token": b"x", "PushMagic": "p"}), "malformed check-in"),
    (plist.dumps(["a", "list"]), "malformed check-in"),
])
def test_malformed_check_in_gets_a_clear_400(app, enroll, device_http, body, reason):
    phone = enroll()
    before = _state(app)
    response = device_http.put("/mdm/checkin", content=body, headers=_signed_headers(phone.identity, body, CHECKIN))
    assert response.status_code == 400
    assert reason in response.text
    assert _state(app) == before


def test_topic_that_is_not_ours_is_refused(enroll, device_http):
    phone = enroll()
    body = plist.dumps(dict(phone.token_update_message(), Topic="com.apple.mgmt.External.someone-else"))
    response = device_http.put("/mdm/checkin", content=body, headers=_signed_headers(phone.identity, body, CHECKIN))
    assert response.status_code == 400
    assert "Topic" in response.text


def test_wrong_content_type_is_refused_with_415(enroll, device_http):
    phone = enroll()
    body = plist.dumps(phone.idle_report())
    response = device_http.put("/mdm/connect", content=body, headers=_signed_headers(phone.identity, body, "text/plain"))
    assert response.status_code == 415


def test_oversized_body_is_refused_with_413(app, enroll, device_http):
    enroll()
    body = b"<" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = device_http.put("/mdm/connect", content=body, headers={"Content-Type": CONNECT, "Mdm-Signature": "x"})
    assert response.status_code == 413


def test_status_for_a_command_never_sent_is_refused(app, enroll, device_http):
    phone = enroll()
    body = plist.dumps({"Status": "Acknowledged", "CommandUUID": "NEVER-SENT", "EnrollmentID": phone.enrollment_id})
    response = device_http.put("/mdm/connect", content=body, headers=_signed_headers(phone.identity, body, CONNECT))
    assert response.status_code == 400
    assert "was not sent" in response.text


def test_repeated_result_for_a_finished_command_is_harmless(app, enroll, device_http, api_token):
    phone = enroll()
    token = api_token()
    with app.app_context():
        device_id = db.session.scalar(select(Device.id))
    queued = device_http.post(f"/api/v1/devices/{device_id}/commands", json={"request_type": "ProfileList"},
                              headers={"Authorization": f"Bearer {token}"}).json()
    phone.poll(device_http)
    report = plist.dumps({"Status": "Error", "CommandUUID": queued["command_uuid"], "EnrollmentID": phone.enrollment_id})
    response = device_http.put("/mdm/connect", content=report, headers=_signed_headers(phone.identity, report, CONNECT))
    assert response.status_code == 200 and response.content == b""
    with app.app_context():
        assert db.session.scalar(select(Command.status)) == "acknowledged", "the first final status stands"


def test_unknown_enrollment_is_refused_with_403(enroll, device_http):
    phone = enroll()
    body = plist.dumps(dict(phone.idle_report(), EnrollmentID="NO-SUCH-ENROLLMENT"))
    response = device_http.put("/mdm/connect", content=body, headers=_signed_headers(phone.identity, body, CONNECT))
    assert response.status_code == 403


def test_enrollment_removed_on_the_server_gets_apples_unrecognized_device_body(app, enroll, device_http):
    phone = enroll()
    with app.app_context():
        db.session.scalars(select(Device)).one().status = "unenrolled"
        db.session.commit()
    body = plist.dumps(phone.idle_report())
    response = device_http.put("/mdm/connect", content=body, headers=_signed_headers(phone.identity, body, CONNECT))
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == "com.apple.unrecognized.device"


def test_checkout_marks_the_device_unenrolled(app, enroll, device_http):
    phone = enroll()
    phone.checkout(device_http)
    with app.app_context():
        assert db.session.scalar(select(Device.status)) == "unenrolled"


def test_device_identity_from_scep_is_valid_as_long_as_the_device_ca(app, enroll):
    phone = enroll()
    with app.app_context():
        assert phone.identity.certificate.not_valid_after_utc == device_ca().certificate.not_valid_after_utc


def test_scep_challenge_is_one_time(app, device_http, api_token):
    profile = _minted_profile(device_http, api_token)
    _phone_with_identity(device_http, profile)
    second = SimulatedDevice()
    second.accept_profile(profile)
    with pytest.raises(Exception, match="SCEP enrollment .* failed"):
        second.obtain_identity(device_http)


def test_hostile_user_enrollment_never_stores_hardware_identifiers(app, enroll):
    from mdm_core.simulator.device import Behaviour

    phone = enroll("user", behaviour=Behaviour(hostile=True))
    with app.app_context():
        device = db.session.scalars(select(Device)).one()
        stored = {c.name: getattr(device, c.name) for c in Device.__table__.columns}
    assert device.udid is None
    for secret in (phone.serial_number, phone.imei, phone.udid):
        assert all(secret not in str(v) for v in stored.values())


def test_proxy_forwarded_client_certificate_identifies_the_device(app, enroll, device_http, monkeypatch):
    from urllib.parse import quote

    from cryptography.hazmat.primitives.serialization import Encoding

    phone = enroll()
    monkeypatch.setitem(app.config, "MDM_CLIENT_CERT_HEADER", "X-Client-Cert")
    body = plist.dumps(phone.idle_report())
    pem = quote(phone.identity.certificate.public_bytes(Encoding.PEM).decode())
    response = device_http.put("/mdm/connect", content=body, headers={"Content-Type": CONNECT, "X-Client-Cert": pem})
    assert response.status_code == 200
    rogue_ca = create_ca("Rogue CA", "Evil")
    rogue = issue_certificate(rogue_ca, phone.identity.private_key.public_key(), phone.identity.certificate.subject, days=5)
    response = device_http.put("/mdm/connect", content=body, headers={
        "Content-Type": CONNECT, "X-Client-Cert": quote(rogue.public_bytes(Encoding.PEM).decode())})
    assert response.status_code == 403


def test_a_new_user_enrollment_cannot_take_over_an_earlier_enrollment_row(app, enroll, device_http, api_token):
    alice = enroll("user", "alice@example.org")
    alice_id = alice.enrollment_id
    alice.checkout(device_http)
    # a fresh, valid certificate bound to no enrollment yet
    mallory = _phone_with_identity(device_http, _minted_profile(device_http, api_token, "mallory@example.org", "mallory"))
    body = plist.dumps(dict(mallory.authenticate_message(), EnrollmentID=alice_id))
    response = device_http.put("/mdm/checkin", content=body, headers=_signed_headers(mallory.identity, body, CHECKIN))
    assert response.status_code == 403
    assert "earlier enrollment" in response.text


def test_a_user_enrollment_that_checked_out_cannot_authenticate_again_even_with_its_own_certificate(
        app, enroll, device_http):
    phone = enroll("user")
    body = plist.dumps(phone.authenticate_message())
    headers = _signed_headers(phone.identity, body, CHECKIN)
    phone.checkout(device_http)
    response = device_http.put("/mdm/checkin", content=body, headers=headers)
    assert response.status_code == 403
    assert "earlier enrollment" in response.text
    with app.app_context():
        assert db.session.scalar(select(Device.status)) == "unenrolled"


def test_authenticate_racing_a_repeated_authenticate_answers_200_with_one_row(app, device_http, api_token):
    """Both requests found no row; the other one inserted and committed its row first."""
    from sqlalchemy import event

    from mdm_core.ca import certificate_fingerprint

    phone = _phone_with_identity(device_http, _minted_profile(device_http, api_token))
    raced = []

    def the_other_authenticate_commits_first(session, _context, _instances):
        if raced or not any(isinstance(row, Device) for row in session.new):
            return
        raced.append(True)
        with db.engine.begin() as other:  # its own connection, as another worker's request
            other.execute(Device.__table__.insert().values(
                enrollment_type="user", enrollment_method="profile_driven", enrollment_id=phone.enrollment_id,
                status="pending", managed_apple_id="alice@example.org",
                certificate_fingerprint=certificate_fingerprint(phone.identity.certificate)))

    event.listen(db.session, "before_flush", the_other_authenticate_commits_first)
    try:
        assert phone.checkin(phone.authenticate_message(), device_http).status_code == 200
    finally:
        event.remove(db.session, "before_flush", the_other_authenticate_commits_first)
    assert raced, "the race happened"
    phone.checkin(phone.token_update_message(), device_http)
    with app.app_context():
        assert db.session.execute(select(Device.enrollment_id, Device.status)).all() == [
            (phone.enrollment_id, "enrolled")]
