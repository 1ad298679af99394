"""Check-in refusals the enrollment flows never meet: a certificate of ours that no enrollment was
issued, an enrollment active with another certificate, CheckOut of what already ended or of
another enrollment."""
import base64

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from mdm_core import cms, plist
from mdm_core.ca import Identity, issue_certificate
from mdm_core.simulator.device import SimulatedDevice
from portal.extensions import db
from portal.models import Device
from portal.pki import device_ca

CHECKIN = "application/x-apple-aspen-mdm-checkin"


def _checkin(device_http, message, identity):
    body = plist.dumps(message)
    signature = base64.b64encode(cms.sign(body, identity, detached=True)).decode()
    return device_http.put("/mdm/checkin", content=body, headers={"Content-Type": CHECKIN, "Mdm-Signature": signature})


def _statuses(app):
    with app.app_context():
        return db.session.execute(select(Device.id, Device.status, Device.certificate_fingerprint)
                                  .order_by(Device.id)).all()


def test_authenticate_with_a_certificate_no_enrollment_was_issued_is_refused(app, enroll, device_http):
    phone = enroll()
    key = ec.generate_private_key(ec.SECP256R1())
    with app.app_context():
        certificate = issue_certificate(device_ca(), key.public_key(), phone.identity.certificate.subject, days=30)
    message = dict(phone.authenticate_message(), EnrollmentID="NEVER-ISSUED")
    response = _checkin(device_http, message, Identity(certificate, key))
    assert response.status_code == 403
    assert "certificate was not issued for an enrollment" in response.text


def test_authenticate_for_a_device_enrollment_active_with_another_certificate_is_refused(app, enroll, device_http,
                                                                                        api_token):
    enrolled = enroll("device", "alice@example.org")
    token = api_token("second-phone")
    profile = device_http.post("/api/v1/enrollment-profiles", headers={"Authorization": f"Bearer {token}"},
                               json={"enrollment_type": "device", "managed_apple_id": "bob@example.org"}).content
    newcomer = SimulatedDevice(enrollment_type="device")
    newcomer.accept_profile(profile)
    newcomer.obtain_identity(device_http)
    before = _statuses(app)
    message = dict(newcomer.authenticate_message(), UDID=enrolled.udid)
    response = _checkin(device_http, message, newcomer.identity)
    assert response.status_code == 403
    assert "enrollment is active with another certificate" in response.text
    assert _statuses(app) == before


def test_checkout_of_an_enrollment_that_already_ended_is_answered_200(app, enroll, device_http):
    phone = enroll()
    message = phone.checkout_message()
    assert _checkin(device_http, message, phone.identity).status_code == 200
    ended = _statuses(app)
    assert _checkin(device_http, message, phone.identity).status_code == 200
    assert _statuses(app) == ended


def test_checkout_signed_with_another_enrollments_certificate_is_refused(app, enroll, device_http):
    phone, other = enroll(managed_apple_id="a@example.org"), enroll(managed_apple_id="b@example.org")
    before = _statuses(app)
    response = _checkin(device_http, phone.checkout_message(), other.identity)
    assert response.status_code == 403
    assert "does not match the enrollment" in response.text
    assert _statuses(app) == before
