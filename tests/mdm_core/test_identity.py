import base64
import datetime as dt
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from mdm_core import ca, cms
from mdm_core.identity import IdentityError, mdm_signer, verify_client_certificate, verify_mdm_signature

BODY = b"<plist><dict><key>MessageType</key><string>Authenticate</string></dict></plist>"


def _header(identity: ca.Identity, body: bytes = BODY) -> str:
    return base64.b64encode(cms.sign(body, identity, detached=True)).decode()


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def test_valid_signature_returns_the_device_certificate(device_identity, ca_identity):
    signer = verify_mdm_signature(_header(device_identity), BODY, ca_identity.certificate)
    assert signer == device_identity.certificate


def test_the_signer_comes_with_its_fingerprint(device_identity, ca_identity):
    signer, fingerprint = mdm_signer(_header(device_identity), BODY, ca_identity.certificate)
    assert signer == device_identity.certificate
    assert fingerprint == ca.certificate_fingerprint(device_identity.certificate)


def test_base64_with_line_breaks_is_accepted(device_identity, ca_identity):
    header = _header(device_identity)
    wrapped = "\n".join(header[i : i + 64] for i in range(0, len(header), 64))
    assert verify_mdm_signature(wrapped, BODY, ca_identity.certificate) == device_identity.certificate


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header_is_refused(ca_identity, header):
    with pytest.raises(IdentityError, match="^missing signature$"):
        verify_mdm_signature(header, BODY, ca_identity.certificate)


@pytest.mark.parametrize("header", ["%%%not base64%%%", "abc", base64.b64encode(b"not a cms structure").decode()])
def test_garbage_header_is_malformed(ca_identity, header):
    with pytest.raises(IdentityError, match="^malformed signature$"):
        verify_mdm_signature(header, BODY, ca_identity.certificate)


def test_body_tampered_after_signing_is_refused(device_identity, ca_identity):
    header = _header(device_identity)
    with pytest.raises(IdentityError, match="^signature does not match body$"):
        verify_mdm_signature(header, BODY.replace(b"Authenticate", b"TokenUpdate"), ca_identity.certificate)


def test_certificate_from_another_ca_is_refused(foreign_device_identity, ca_identity):
    with pytest.raises(IdentityError, match="^certificate not issued by this server$"):
        verify_mdm_signature(_header(foreign_device_identity), BODY, ca_identity.certificate)


def test_forged_certificate_naming_our_ca_as_issuer_is_refused(ca_identity, foreign_ca_identity, device_key):
    impostor_ca = ca.Identity(
        x509.CertificateBuilder()
        .subject_name(ca_identity.certificate.subject)
        .issuer_name(ca_identity.certificate.subject)
        .public_key(foreign_ca_identity.private_key.public_key())
        .serial_number(1)
        .not_valid_before(ca_identity.certificate.not_valid_before_utc)
        .not_valid_after(ca_identity.certificate.not_valid_after_utc)
        .sign(foreign_ca_identity.private_key, hashes.SHA256()),
        foreign_ca_identity.private_key,
    )
    forged = ca.issue_certificate(impostor_ca, device_key.public_key(), x509.Name([]), days=1)
    assert forged.issuer == ca_identity.certificate.subject
    with pytest.raises(IdentityError, match="^certificate not issued by this server$"):
        verify_mdm_signature(_header(ca.Identity(forged, device_key)), BODY, ca_identity.certificate)


def test_expired_certificate_is_refused(device_identity, ca_identity):
    later = device_identity.certificate.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(IdentityError, match="^certificate expired$"):
        verify_mdm_signature(_header(device_identity), BODY, ca_identity.certificate, now=later)


def test_certificate_not_yet_valid_is_refused(device_identity, ca_identity):
    earlier = device_identity.certificate.not_valid_before_utc - dt.timedelta(seconds=1)
    with pytest.raises(IdentityError, match="^certificate not yet valid$"):
        verify_mdm_signature(_header(device_identity), BODY, ca_identity.certificate, now=earlier)


def test_proxy_certificate_as_plain_pem(device_identity, ca_identity):
    pem = _pem(device_identity.certificate)
    assert verify_client_certificate(pem, ca_identity.certificate) == device_identity.certificate


def test_proxy_certificate_url_encoded_like_nginx(device_identity, ca_identity):
    escaped = quote(_pem(device_identity.certificate), safe="")
    assert "%0A" in escaped
    assert verify_client_certificate(escaped, ca_identity.certificate) == device_identity.certificate


def test_proxy_certificate_with_tabs_for_newlines(device_identity, ca_identity):
    tabbed = _pem(device_identity.certificate).strip().replace("\n", "\t")
    assert verify_client_certificate(tabbed, ca_identity.certificate) == device_identity.certificate


@pytest.mark.parametrize("value, reason", [(None, "missing certificate"), ("", "missing certificate"),
                                           ("not a pem", "malformed certificate"), ("caf%C3%A9", "malformed certificate")])
def test_proxy_certificate_missing_or_garbage(ca_identity, value, reason):
    with pytest.raises(IdentityError, match=f"^{reason}$"):
        verify_client_certificate(value, ca_identity.certificate)


def test_proxy_certificate_from_another_ca_is_refused(foreign_device_identity, ca_identity):
    with pytest.raises(IdentityError, match="^certificate not issued by this server$"):
        verify_client_certificate(_pem(foreign_device_identity.certificate), ca_identity.certificate)


def test_expired_proxy_certificate_is_refused(device_identity, ca_identity):
    later = device_identity.certificate.not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(IdentityError, match="^certificate expired$"):
        verify_client_certificate(_pem(device_identity.certificate), ca_identity.certificate, now=later)


def test_a_certificate_checked_once_is_still_refused_once_expired(device_identity, ca_identity):
    verify_mdm_signature(_header(device_identity), BODY, ca_identity.certificate)  # cached as issued by us
    later = device_identity.certificate.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(IdentityError, match="^certificate expired$"):
        verify_mdm_signature(_header(device_identity), BODY, ca_identity.certificate, now=later)


def test_a_certificate_checked_against_our_ca_is_refused_by_another(device_identity, ca_identity,
                                                                      foreign_ca_identity):
    verify_mdm_signature(_header(device_identity), BODY, ca_identity.certificate)
    with pytest.raises(IdentityError, match="^certificate not issued by this server$"):
        verify_mdm_signature(_header(device_identity), BODY, foreign_ca_identity.certificate)
