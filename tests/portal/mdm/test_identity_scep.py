"""The user identity CA over SCEP: a one-time challenge per device and profile buys one certificate naming the
device's user, from a CA that is never the device CA, and only at the URL of the device it was sent to."""
import base64
import shutil
import subprocess
import threading
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select, update
from werkzeug.serving import make_server

from mdm_core import cms, plist
from mdm_core.ca import Identity, certificate_fingerprint
from mdm_core.profile_builders import IKEv2, PerAppVPN, Ref, SCEPIdentity, build_profile
from mdm_core.profile_check import check_profile
from mdm_core.scep import SCEPError
from mdm_core.scep.client import build_pkcs_req, enroll as scep_enroll, parse_cert_rep
from mdm_core.simulator.device import SimulatedDevice
from mdm_core.user_identity import SCEP_URL_MARKER, UserIdentityError
from portal.extensions import db
from portal.models import AuditEvent, Device, EndUser
from portal.models.base import utcnow
from portal.models.user_identity import UserIdentityChallenge
from portal.pki import device_ca, user_identity_ca
from portal.rate_limits import counter
from portal.user_identities import fill_identity_scep_payloads, issue_identity_challenge

SCEPCLIENT = "/usr/bin/scepclient"
ASKED = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whatever-the-phone-asks")])
VPN_PROFILE = build_profile("com.example.vpn", [
    SCEPIdentity(name="identity", URL=SCEP_URL_MARKER, Subject=(("CN", "$MANAGED_APPLE_ID"),)),
    PerAppVPN(UserDefinedName="Work VPN", IKEv2=IKEv2(RemoteAddress="vpn.example.com", RemoteIdentifier="vpn.example.com",
                                                      LocalIdentifier="$MANAGED_APPLE_ID",
                                                      PayloadCertificateUUID=Ref("identity")))],
    display_name="Work VPN")


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def issue(app):
    """``issue(device_id, profile)``: a committed challenge for the device, as profile delivery makes one."""

    def make(device_id, profile="com.example.vpn"):
        with app.app_context():
            url, challenge = issue_identity_challenge(db.session.get(Device, device_id), profile)
            db.session.commit()
        return url, challenge

    return make


def _cas(app):
    with app.app_context():
        return user_identity_ca().certificate, device_ca().certificate


def _sans(certificate):
    return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.RFC822Name)


def _common_name(certificate):
    return certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_phone_gets_a_certificate_naming_its_user_from_the_user_identity_ca_not_the_device_ca(app, device_http, seed,
                                                                                              key):
    device_id, = seed(1)
    with app.app_context():
        filled = fill_identity_scep_payloads(VPN_PROFILE, db.session.get(Device, device_id))
        db.session.commit()
    scep = filled["PayloadContent"][0]["PayloadContent"]
    assert scep["URL"] == f"{app.config['PUBLIC_URL']}/scep/identities/{device_id}"
    report = check_profile(filled, "user")
    assert report.valid and report.user_enrollment == "allowed", report.problems

    certificate = scep_enroll(device_http, scep["URL"], challenge=scep["Challenge"], private_key=key, subject=ASKED)

    identity_ca, device_ca_certificate = _cas(app)
    assert (_common_name(certificate), _sans(certificate)) == ("user0@example.org", ["user0@example.org"])
    assert certificate.public_key() == key.public_key()
    certificate.verify_directly_issued_by(identity_ca)
    with pytest.raises((ValueError, InvalidSignature)):
        certificate.verify_directly_issued_by(device_ca_certificate)
    assert identity_ca.public_key() != device_ca_certificate.public_key()
    with app.app_context():
        row = db.session.scalars(select(UserIdentityChallenge)).one()
        assert (row.device_id, row.profile_identifier) == (device_id, "com.example.vpn")
        assert row.used_at is not None and row.certificate_fingerprint == certificate_fingerprint(certificate)
        assert scep["Challenge"] not in str([getattr(row, c.name) for c in UserIdentityChallenge.__table__.columns])
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "scep.user_identity_issued")).one()
        assert (event.actor, event.target_id) == ("user0@example.org", str(device_id))


def test_a_challenge_is_used_once(device_http, seed, issue, key):
    url, challenge = issue(*seed(1))
    scep_enroll(device_http, url, challenge=challenge, private_key=key, subject=ASKED)
    with pytest.raises(SCEPError, match="badRequest"):
        scep_enroll(device_http, url, challenge=challenge, private_key=key, subject=ASKED)


def test_another_devices_challenge_is_refused_and_stays_unused(device_http, seed, issue, key):
    alice, bob = seed(2)
    alice_url, alice_challenge = issue(alice)
    bob_url, _ = issue(bob)
    with pytest.raises(SCEPError, match="badRequest"):
        scep_enroll(device_http, bob_url, challenge=alice_challenge, private_key=key, subject=ASKED)
    certificate = scep_enroll(device_http, alice_url, challenge=alice_challenge, private_key=key, subject=ASKED)
    assert _common_name(certificate) == "user0@example.org"


@pytest.mark.parametrize("device_id", ["9223372036854775808", "99999999999999999999999999"])
def test_a_device_id_no_database_holds_is_not_found(app, client, key, device_id):
    """The route takes the ids every other route takes: past 64 bits the query failed, a 500."""
    with app.app_context():
        ca_certificate = user_identity_ca().certificate
    message = build_pkcs_req(private_key=key, subject=ASKED, challenge="any", ca_certificate=ca_certificate).message
    response = client.post(f"/scep/identities/{device_id}?operation=PKIOperation", data=message,
                           headers={"Content-Type": "application/x-pki-message"})
    assert response.status_code == 404


@pytest.mark.parametrize("change", [
    lambda: update(UserIdentityChallenge).values(expires_at=utcnow() - timedelta(seconds=1)),
    lambda: update(Device).values(status="unenrolled"),
], ids=["expired", "device-unenrolled"])
def test_an_expired_challenge_or_one_for_an_unenrolled_device_is_refused(app, device_http, seed, issue, key, change):
    url, challenge = issue(*seed(1))
    with app.app_context():
        db.session.execute(change())
        db.session.commit()
    with pytest.raises(SCEPError, match="badRequest"):
        scep_enroll(device_http, url, challenge=challenge, private_key=key, subject=ASKED)


def test_enrollment_grant_challenge_fails_at_the_identity_endpoint_and_identity_challenge_at_device_scep(
        app, device_http, api_token, seed, issue, key):
    profile = device_http.post("/api/v1/enrollment-profiles", headers={"Authorization": f"Bearer {api_token()}"},
                               json={"enrollment_type": "user", "managed_apple_id": "alice@example.org"}).content
    grant_challenge = SimulatedDevice().accept_profile(profile).identity.challenge
    url, identity_challenge = issue(*seed(1))
    device_scep = f"{app.config['PUBLIC_URL']}/scep"
    with pytest.raises(SCEPError, match="badRequest"):
        scep_enroll(device_http, url, challenge=grant_challenge, private_key=key, subject=ASKED)
    with pytest.raises(SCEPError, match="badRequest"):
        scep_enroll(device_http, device_scep, challenge=identity_challenge, private_key=key, subject=ASKED)
    # neither was used up by the wrong endpoint, and each CA issued only at its own
    identity_ca, device_ca_certificate = _cas(app)
    scep_enroll(device_http, url, challenge=identity_challenge, private_key=key,
                subject=ASKED).verify_directly_issued_by(identity_ca)
    scep_enroll(device_http, device_scep, challenge=grant_challenge, private_key=key,
                subject=ASKED).verify_directly_issued_by(device_ca_certificate)


def test_a_request_enveloped_to_one_ca_is_refused_by_the_other(app, device_http, seed, issue, key):
    url, challenge = issue(*seed(1))
    identity_ca, device_ca_certificate = _cas(app)
    for endpoint, wrong_ca, right_ca in ((url, device_ca_certificate, identity_ca),
                                         (f"{app.config['PUBLIC_URL']}/scep", identity_ca, device_ca_certificate)):
        request = build_pkcs_req(private_key=key, subject=ASKED, challenge=challenge, ca_certificate=wrong_ca)
        response = device_http.post(endpoint, params={"operation": "PKIOperation"}, content=request.message)
        with pytest.raises(SCEPError, match="badMessageCheck"):
            parse_cert_rep(response.content, request, right_ca)


def test_the_email_when_it_differs_is_a_second_rfc822name(app, device_http, seed, issue, key):
    with app.app_context():
        user = EndUser(issuer="https://idp.example.org", subject="alice", managed_apple_id="alice@example.org",
                       email="alice.smith@corp.example", name="Alice")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    url, challenge = issue(*seed(1, managed_apple_id="alice@example.org", user_id=user_id))
    certificate = scep_enroll(device_http, url, challenge=challenge, private_key=key, subject=ASKED)
    assert _sans(certificate) == ["alice@example.org", "alice.smith@corp.example"]


def test_a_user_identity_is_refused_as_a_device_identity(app, enroll, device_http, issue):
    phone = enroll()
    with app.app_context():
        device_id = db.session.scalar(select(Device.id))
    url, challenge = issue(device_id)
    key = phone.identity.private_key
    wifi_certificate = scep_enroll(device_http, url, challenge=challenge, private_key=key, subject=ASKED)
    body = plist.dumps(phone.idle_report())
    signature = base64.b64encode(cms.sign(body, Identity(wifi_certificate, key), detached=True)).decode()
    response = device_http.put("/mdm/connect", content=body, headers={
        "Content-Type": "application/x-apple-aspen-mdm", "Mdm-Signature": signature})
    assert response.status_code == 403 and "not issued by this server" in response.text
    identity_ca, _ = _cas(app)
    with pytest.raises((ValueError, InvalidSignature)):
        phone.identity.certificate.verify_directly_issued_by(identity_ca)


def test_wrong_identity_challenges_close_scep_for_the_address_like_device_scep(app, device_http, seed, issue, key,
                                                                               monkeypatch):
    now = counter.clock() // 3600 * 3600 + 1
    monkeypatch.setattr(counter, "clock", lambda: now)
    url, challenge = issue(*seed(1))
    for _ in range(5):
        with pytest.raises(SCEPError, match="badRequest"):
            scep_enroll(device_http, url, challenge="wrong", private_key=key, subject=ASKED)
    request = build_pkcs_req(private_key=key, subject=ASKED, challenge=challenge, ca_certificate=_cas(app)[0])
    response = device_http.post(url, params={"operation": "PKIOperation"}, content=request.message)
    assert response.status_code == 429 and response.headers["Content-Type"].startswith("text/plain")
    assert int(response.headers["Retry-After"]) > 0
    with app.app_context():
        assert db.session.scalar(select(UserIdentityChallenge.used_at)) is None  # the right one waits, unused


def test_a_device_whose_user_cannot_be_named_gets_no_challenge(app, seed):
    device_id, = seed(1, managed_apple_id=None)
    with app.app_context():
        with pytest.raises(UserIdentityError):
            issue_identity_challenge(db.session.get(Device, device_id), "com.example.vpn")
        with pytest.raises(UserIdentityError):
            fill_identity_scep_payloads(VPN_PROFILE, db.session.get(Device, device_id))
        db.session.commit()
        assert db.session.scalar(select(UserIdentityChallenge)) is None
        assert fill_identity_scep_payloads({"PayloadContent": []}, db.session.get(Device, device_id)) \
            == {"PayloadContent": []}


@pytest.fixture
def served(app):
    """The app on a free port in a thread: ``served(url)`` is ``url`` rewritten to reach it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield lambda url: url.replace(app.config["PUBLIC_URL"], f"http://127.0.0.1:{server.socket.getsockname()[1]}")
    server.shutdown()


def _scepclient(url, challenge, directory):
    directory.mkdir()
    return subprocess.run([SCEPCLIENT, "-server-url", url, "-challenge", challenge, "-cn", "interop-phone",
                           "-private-key", str(directory / "key.pem"), "-certificate", str(directory / "cert.pem")],
                          capture_output=True, text=True, timeout=60, cwd=directory)


@pytest.mark.skipif(not shutil.which(SCEPCLIENT), reason="Debian package scep (scepclient) not installed")
def test_independent_scepclient_obtains_a_user_identity_once(app, seed, issue, served, tmp_path):
    url, challenge = issue(*seed(1))
    first = _scepclient(served(url), challenge, tmp_path / "first")
    assert first.returncode == 0, first.stdout + first.stderr
    certificate = x509.load_pem_x509_certificate((tmp_path / "first" / "cert.pem").read_bytes())
    assert (_common_name(certificate), _sans(certificate)) == ("user0@example.org", ["user0@example.org"])
    identity_ca, device_ca_certificate = _cas(app)
    certificate.verify_directly_issued_by(identity_ca)
    with pytest.raises((ValueError, InvalidSignature)):
        certificate.verify_directly_issued_by(device_ca_certificate)
    second = _scepclient(served(url), challenge, tmp_path / "second")
    assert second.returncode != 0 and "badRequest" in second.stdout + second.stderr
