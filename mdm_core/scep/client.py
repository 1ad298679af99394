"""A SCEP client (RFC 8894) for the device simulator and tests: PKCSReq by POST."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AttributeOID

from ..ca import Identity
from .message import (
    PKI_MESSAGE_CONTENT_TYPE,
    FailInfo,
    MessageType,
    PKIStatus,
    SCEPError,
    build_pki_message,
    new_nonce,
    parse_pki_message,
)


@dataclass(frozen=True)
class PKCSRequest:
    """A PKCSReq ready to send, and what is needed to read its CertRep."""

    message: bytes
    transaction_id: str
    sender_nonce: bytes
    signer: Identity  # the self-signed certificate of the requested key


def _self_signed(private_key: rsa.RSAPrivateKey, subject: x509.Name) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )


def build_pkcs_req(
    *,
    private_key: rsa.RSAPrivateKey,
    subject: x509.Name,
    challenge: str,
    ca_certificate: x509.Certificate,
    digest: str = "sha256",
) -> PKCSRequest:
    """A PKCSReq: the CSR (with challengePassword) AES-256 enveloped to the CA, signed with
    a self-signed certificate of the same key. ``digest`` is "sha256" or "sha1"."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode("utf-8"))
        .sign(private_key, hashes.SHA256())
    )
    envelope = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(csr.public_bytes(serialization.Encoding.DER))
        .add_recipient(ca_certificate)
        .set_content_encryption_algorithm(algorithms.AES256)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    signer = Identity(_self_signed(private_key, subject), private_key)
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    transaction_id = hashlib.sha256(public_der).hexdigest()
    sender_nonce = new_nonce()
    message = build_pki_message(
        envelope,
        signer,
        message_type=MessageType.PKCS_REQ,
        transaction_id=transaction_id,
        sender_nonce=sender_nonce,
        digest=digest,
    )
    return PKCSRequest(message, transaction_id, sender_nonce, signer)


def parse_cert_rep(response: bytes, request: PKCSRequest, ca_certificate: x509.Certificate) -> x509.Certificate:
    """The certificate in a CertRep, after checking it answers ``request`` and is signed by the CA."""
    reply = parse_pki_message(response)
    if reply.signer != ca_certificate:
        raise SCEPError("the CertRep is not signed by the CA")
    if reply.message_type != MessageType.CERT_REP.value:
        raise SCEPError(f"expected a CertRep, got messageType {reply.message_type}")
    if reply.transaction_id != request.transaction_id or reply.recipient_nonce != request.sender_nonce:
        raise SCEPError("the CertRep does not answer this request")
    if reply.pki_status == PKIStatus.FAILURE.value:
        reason = next((f.name for f in FailInfo if f.value == reply.fail_info), reply.fail_info)
        raise SCEPError(f"the server refused the request: {reason}")
    if reply.pki_status != PKIStatus.SUCCESS.value:
        raise SCEPError(f"unsupported pkiStatus {reply.pki_status}")
    try:
        degenerate = pkcs7.pkcs7_decrypt_der(
            reply.content, request.signer.certificate, request.signer.private_key, []
        )
        certificates = pkcs7.load_der_pkcs7_certificates(degenerate)
    except (ValueError, TypeError):
        raise SCEPError("cannot decrypt the certificate in the CertRep") from None
    own_key = request.signer.private_key.public_key()
    for certificate in certificates:
        if certificate.public_key() == own_key:
            return certificate
    raise SCEPError("the CertRep holds no certificate for our key")


def enroll(
    http: httpx.Client,
    url: str,
    *,
    challenge: str,
    private_key: rsa.RSAPrivateKey,
    subject: x509.Name,
) -> x509.Certificate:
    """Enroll ``private_key`` at the SCEP server ``url`` and return the issued certificate."""
    caps = http.get(url, params={"operation": "GetCACaps"})
    caps.raise_for_status()
    capabilities = set(caps.text.split())
    if not {"POSTPKIOperation", "AES"} <= capabilities and "SCEPStandard" not in capabilities:
        raise SCEPError(f"the server lacks POSTPKIOperation or AES: {sorted(capabilities)}")

    ca_reply = http.get(url, params={"operation": "GetCACert"})
    ca_reply.raise_for_status()
    try:
        ca_certificate = x509.load_der_x509_certificate(ca_reply.content)
    except ValueError:
        raise SCEPError("GetCACert did not return a single DER certificate") from None

    digest = "sha256" if {"SHA-256", "SCEPStandard"} & capabilities else "sha1"
    request = build_pkcs_req(
        private_key=private_key, subject=subject, challenge=challenge, ca_certificate=ca_certificate, digest=digest
    )
    reply = http.post(
        url,
        params={"operation": "PKIOperation"},
        content=request.message,
        headers={"Content-Type": PKI_MESSAGE_CONTENT_TYPE},
    )
    reply.raise_for_status()
    return parse_cert_rep(reply.content, request, ca_certificate)
