"""The MDM push certificate is recognised by its topic UID, and refused with a reason otherwise."""
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from mdm_core.apns.certificate import PushCertificateError, load_push_certificate
from mdm_core.apns.standin_pki import issue_push_certificate
from mdm_core.ca import create_signing_identity
from tests.helpers import self_signed, with_unknown_key_algorithm

NOW = dt.datetime.now(dt.timezone.utc)


def _pem(identity, password: bytes | None = None):
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return (identity.certificate.public_bytes(serialization.Encoding.PEM),
            identity.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))


@pytest.fixture(scope="module")
def push_ca(standin_pki):
    return standin_pki[0].push_ca


@pytest.fixture(scope="module")
def push(standin_pki):
    return standin_pki[0].push


def test_pem_certificate_and_key_give_topic_and_expiry(push):
    cert, key = _pem(push)
    loaded = load_push_certificate(cert, key)
    assert loaded.topic.startswith("com.apple.mgmt.External.")
    assert loaded.not_after == push.certificate.not_valid_after_utc
    assert 360 <= loaded.days_left() <= 365 and not loaded.expires_soon()


def test_combined_pem_with_encrypted_key(push):
    cert, key = _pem(push, b"s3cret")
    assert load_push_certificate(cert + key, password="s3cret").topic == load_push_certificate(*_pem(push)).topic
    with pytest.raises(PushCertificateError, match="encrypted: give its password"):
        load_push_certificate(cert + key)
    with pytest.raises(PushCertificateError, match="wrong password"):
        load_push_certificate(cert, key, "nope")


def test_pkcs12_with_password(push):
    p12 = pkcs12.serialize_key_and_certificates(b"mdm", push.private_key, push.certificate, None,
                                                serialization.BestAvailableEncryption(b"pw"))
    assert load_push_certificate(p12, password="pw").certificate == push.certificate
    with pytest.raises(PushCertificateError, match="PKCS#12 file: wrong password"):
        load_push_certificate(p12, password="other")


def test_certificate_without_mdm_topic_is_refused(push_ca):
    signer = create_signing_identity(push_ca, "Not a push certificate")
    with pytest.raises(PushCertificateError, match="no UID"):
        load_push_certificate(*_pem(signer))
    app_push = issue_push_certificate(push_ca, "com.example.app")
    with pytest.raises(PushCertificateError, match="does not start with 'com.apple.mgmt.'"):
        load_push_certificate(*_pem(app_push))


def test_expired_certificate_is_refused_with_its_date(push_ca):
    expired = issue_push_certificate(push_ca, not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1))
    with pytest.raises(PushCertificateError, match=f"expired on {(NOW - dt.timedelta(days=1)):%Y-%m-%d}"):
        load_push_certificate(*_pem(expired))


def test_expiring_certificate_is_flagged_30_days_ahead(push_ca):
    soon = issue_push_certificate(push_ca, not_after=NOW + dt.timedelta(days=20))
    loaded = load_push_certificate(*_pem(soon))
    assert loaded.expires_soon() and loaded.days_left() == 19


def test_key_of_another_certificate_is_refused(push, push_ca):
    other = issue_push_certificate(push_ca)
    with pytest.raises(PushCertificateError, match="does not belong to the certificate"):
        load_push_certificate(_pem(push)[0], _pem(other)[1])


def test_a_certificate_whose_key_cannot_be_read_is_refused_saying_so(push):
    """An upload an admin made by mistake: UnsupportedAlgorithm was a 500 on the push certificate page."""
    unreadable = x509.load_der_x509_certificate(with_unknown_key_algorithm(self_signed()[0].public_bytes(
        serialization.Encoding.DER)))
    with pytest.raises(PushCertificateError, match="cannot read the certificate's public key"):
        load_push_certificate(unreadable.public_bytes(serialization.Encoding.PEM), _pem(push)[1])


def test_missing_key_and_garbage_are_refused(push):
    with pytest.raises(PushCertificateError, match="private key is missing"):
        load_push_certificate(_pem(push)[0])
    with pytest.raises(PushCertificateError, match="PKCS#12"):
        load_push_certificate(b"\x00garbage")
    with pytest.raises(PushCertificateError, match="holds no certificate"):
        load_push_certificate(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def test_non_rsa_key_is_refused(push_ca):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.USER_ID, "com.apple.mgmt.External.x")]))
            .issuer_name(push_ca.certificate.subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=9))
            .sign(push_ca.private_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(PushCertificateError, match="must be an RSA key"):
        load_push_certificate(cert.public_bytes(serialization.Encoding.PEM), key_pem)

