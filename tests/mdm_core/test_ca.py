import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mdm_core import ca
from tests.helpers import self_signed, with_unknown_key_algorithm

SECRET = b"app-secret-key"


def _subject(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def test_created_ca_is_a_self_signed_certificate_authority(ca_identity):
    certificate = ca_identity.certificate
    certificate.verify_directly_issued_by(certificate)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ca_identity.private_key.public_key())
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Org"
    assert ca_identity.private_key.key_size == 2048


def test_issued_certificate_chains_to_the_ca_for_client_auth(ca_identity, device_key):
    certificate = ca.issue_certificate(ca_identity, device_key.public_key(), _subject("d"), days=30, serial=4242)
    certificate.verify_directly_issued_by(ca_identity.certificate)
    assert certificate.serial_number == 4242
    assert certificate.subject == _subject("d")
    assert certificate.public_key() == device_key.public_key()
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca_identity.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert dt.timedelta(days=30) <= lifetime < dt.timedelta(days=31)


def test_certificate_without_client_auth_has_no_extended_key_usage(ca_identity, device_key):
    certificate = ca.issue_certificate(ca_identity, device_key.public_key(), _subject("d"), days=1, client_auth=False)
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_issued_certificate_never_outlives_the_ca(ca_identity, device_key):
    certificate = ca.issue_certificate(ca_identity, device_key.public_key(), _subject("d"), days=100_000)
    assert certificate.not_valid_after_utc == ca_identity.certificate.not_valid_after_utc


def test_certificate_without_a_lifetime_ends_with_the_ca(ca_identity, device_key):
    certificate = ca.issue_certificate(ca_identity, device_key.public_key(), _subject("d"), days=None)
    assert certificate.not_valid_after_utc == ca_identity.certificate.not_valid_after_utc
    assert certificate.not_valid_before_utc < dt.datetime.now(dt.timezone.utc)


def test_ec_keys_get_signature_usage_only(ca_identity):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue_certificate(ca_identity, key.public_key(), _subject("ec"), days=1)
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment


def test_signing_identity_is_issued_by_the_ca_for_code_signing(ca_identity):
    signing = ca.create_signing_identity(ca_identity, "Profile Signing")
    signing.certificate.verify_directly_issued_by(ca_identity.certificate)
    assert signing.certificate.public_key() == signing.private_key.public_key()
    eku = signing.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CODE_SIGNING in eku
    assert signing.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Profile Signing"


def test_private_key_at_rest_is_encrypted_and_round_trips(ca_identity):
    pem = ca.encrypt_private_key(ca_identity.private_key, SECRET)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    assert ca.decrypt_private_key(pem, SECRET).private_numbers() == ca_identity.private_key.private_numbers()


def test_wrong_secret_cannot_decrypt_the_key(ca_identity):
    pem = ca.encrypt_private_key(ca_identity.private_key, SECRET)
    with pytest.raises(ca.CAError, match="wrong secret"):
        ca.decrypt_private_key(pem, b"another secret")


def test_empty_secret_is_refused(ca_identity):
    with pytest.raises(ca.CAError, match="empty secret"):
        ca.encrypt_private_key(ca_identity.private_key, b"")


def test_identity_pem_round_trip(ca_identity):
    cert_pem, key_pem = ca.identity_to_pem(ca_identity, SECRET)
    loaded = ca.identity_from_pem(cert_pem, key_pem, SECRET)
    assert loaded.certificate == ca_identity.certificate
    assert loaded.private_key.private_numbers() == ca_identity.private_key.private_numbers()


def test_admin_supplied_unencrypted_key_loads_without_secret(ca_identity):
    cert_pem = ca_identity.certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = ca_identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert ca.identity_from_pem(cert_pem, key_pem, None).certificate == ca_identity.certificate


def test_encrypted_key_without_secret_is_refused(ca_identity):
    cert_pem, key_pem = ca.identity_to_pem(ca_identity, SECRET)
    with pytest.raises(ca.CAError, match="cannot load the private key"):
        ca.identity_from_pem(cert_pem, key_pem, None)


def test_key_that_does_not_match_the_certificate_is_refused(ca_identity, foreign_ca_identity):
    cert_pem = ca_identity.certificate.public_bytes(serialization.Encoding.PEM)
    _, other_key_pem = ca.identity_to_pem(foreign_ca_identity, SECRET)
    with pytest.raises(ca.CAError, match="does not belong to the certificate"):
        ca.identity_from_pem(cert_pem, other_key_pem, SECRET)


def test_a_certificate_whose_key_cannot_be_read_is_refused_saying_so(ca_identity):
    cert_pem = x509.load_der_x509_certificate(with_unknown_key_algorithm(self_signed()[0].public_bytes(
        serialization.Encoding.DER))).public_bytes(serialization.Encoding.PEM)
    _, key_pem = ca.identity_to_pem(ca_identity, SECRET)
    with pytest.raises(ca.CAError, match="cannot read the certificate's public key"):
        ca.identity_from_pem(cert_pem, key_pem, SECRET)


def test_non_rsa_key_is_refused(ca_identity):
    cert_pem = ca_identity.certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ca.CAError, match="RSA"):
        ca.identity_from_pem(cert_pem, key_pem, None)


@pytest.mark.parametrize("cert_pem, key_pem", [(b"garbage", None), (None, b"garbage")])
def test_garbage_pem_is_refused(ca_identity, cert_pem, key_pem):
    real_cert, real_key = ca.identity_to_pem(ca_identity, SECRET)
    with pytest.raises(ca.CAError):
        ca.identity_from_pem(cert_pem or real_cert, key_pem or real_key, SECRET)


def test_fingerprint_is_lowercase_sha256_of_der(ca_identity):
    der = ca_identity.certificate.public_bytes(serialization.Encoding.DER)
    assert ca.certificate_fingerprint(ca_identity.certificate) == hashlib.sha256(der).hexdigest()
