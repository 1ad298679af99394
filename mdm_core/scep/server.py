"""SCEP server logic for the built-in CA, independent of any web framework.

The caller maps ``GET ?operation=GetCACaps|GetCACert`` and ``GET/POST
?operation=PKIOperation`` onto these functions and decides, through ``authorize``, whether
a request's challenge password is good (typically by consuming a one-time challenge).
"""
from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AttributeOID

from .. import ca as ca_module
from ..ca import Identity
from . import envelope
from .message import (
    PKI_MESSAGE_CONTENT_TYPE,
    FailInfo,
    MessageType,
    PKIMessage,
    PKIStatus,
    SCEPError,
    build_pki_message,
    new_nonce,
    parse_pki_message,
)

# What we ask clients to use: AES envelopes, POSTed requests, SHA-256. SCEPStandard (RFC 8894)
# promises exactly these three. DES/DES3 request envelopes are still decrypted for clients
# that ignore the capabilities, but never advertised. No Renewal, no GetNextCACert.
CAPABILITIES: tuple[str, ...] = ("AES", "POSTPKIOperation", "SHA-256", "SCEPStandard")

CA_CERT_CONTENT_TYPE = "application/x-x509-ca-cert"

__all__ = [
    "CAPABILITIES",
    "CA_CERT_CONTENT_TYPE",
    "PKI_MESSAGE_CONTENT_TYPE",
    "PKIOperationResult",
    "SCEPError",
    "get_ca_caps",
    "get_ca_cert",
    "handle_pki_operation",
    "message_from_query",
]


@dataclass(frozen=True)
class PKIOperationResult:
    """The CertRep to send (as ``application/x-pki-message``) and what happened."""

    response: bytes
    certificate: x509.Certificate | None
    transaction_id: str
    status: str
    fail_reason: str | None


def get_ca_caps() -> bytes:
    return "\n".join(CAPABILITIES).encode()


def get_ca_cert(ca: Identity) -> tuple[bytes, str]:
    return ca.certificate.public_bytes(serialization.Encoding.DER), CA_CERT_CONTENT_TYPE


def message_from_query(value: str) -> bytes:
    """The DER pkiMessage of a GET request's ``message`` parameter (base64).

    Clients that do not escape ``+`` have it decoded to a space by the query parser.
    """
    text = "".join(value.replace(" ", "+").split())
    try:
        return b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SCEPError("the message parameter is not base64") from None


class _Refusal(Exception):
    def __init__(self, fail_info: FailInfo):
        self.fail_info = fail_info


def _decrypt_csr(request: PKIMessage, ca: Identity) -> x509.CertificateSigningRequest:
    try:
        csr_der = envelope.decrypt(request.content, ca)
    except envelope.UnsupportedCipherError:
        raise _Refusal(FailInfo.badAlg) from None
    except envelope.EnvelopeError:
        raise _Refusal(FailInfo.badMessageCheck) from None
    try:
        csr = x509.load_der_x509_csr(csr_der)
    except ValueError:
        raise _Refusal(FailInfo.badRequest) from None
    try:  # a key of an algorithm cryptography cannot load fails here, not later when it is certified
        csr.public_key()
        signed = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError):
        raise _Refusal(FailInfo.badAlg) from None
    if not signed:
        # The CSR's own signature proves possession of the key being certified. The pkiMessage may
        # be signed by another, self-signed key (RFC 8894 section 2.3: SHOULD, not MUST, be the same):
        # its signature is verified against the certificate it carries, which the reply is enveloped to.
        raise _Refusal(FailInfo.badMessageCheck)
    return csr


def _challenge(csr: x509.CertificateSigningRequest) -> str:
    try:
        value = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except x509.AttributeNotFound:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refusal(FailInfo.badRequest) from None


def _envelope_certificate(certificate: x509.Certificate, recipient: x509.Certificate) -> bytes:
    degenerate = pkcs7.serialize_certificates([certificate], serialization.Encoding.DER)
    return (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(degenerate)
        .add_recipient(recipient)
        .set_content_encryption_algorithm(algorithms.AES256)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def handle_pki_operation(
    message: bytes,
    ca: Identity,
    *,
    authorize: Callable[[str, x509.CertificateSigningRequest], bool],
    issue: Callable[[x509.CertificateSigningRequest], x509.Certificate] | None = None,
    days: int | None = None,
) -> PKIOperationResult:
    """Answer a DER pkiMessage (PKCSReq) with a signed CertRep.

    The certificate is valid for ``days``, by default as long as the CA itself: a device
    identity is ended by un-enrolling, and a phone cannot renew it (see docs/decisions.md).

    Raises :class:`SCEPError` when the message cannot be read or authenticated at all;
    otherwise every refusal is a FAILURE CertRep the client can understand.
    """
    request = parse_pki_message(message)
    if request.sender_nonce is None:
        raise SCEPError("the pkiMessage lacks its senderNonce")

    certificate = None
    try:
        if request.message_type != MessageType.PKCS_REQ.value:
            raise _Refusal(FailInfo.badRequest)
        if not isinstance(request.signer.public_key(), rsa.RSAPublicKey):
            # The reply is enveloped to this key; refuse before a challenge is consumed.
            raise _Refusal(FailInfo.badAlg)
        csr = _decrypt_csr(request, ca)
        if not authorize(_challenge(csr), csr):
            raise _Refusal(FailInfo.badRequest)
        if issue is None:
            certificate = ca_module.issue_certificate(ca, csr.public_key(), csr.subject, days=days)
        else:
            certificate = issue(csr)
        content = _envelope_certificate(certificate, request.signer)
        status, fail_info = PKIStatus.SUCCESS, None
    except _Refusal as refusal:
        certificate, content = None, None
        status, fail_info = PKIStatus.FAILURE, refusal.fail_info

    response = build_pki_message(
        content,
        ca,
        message_type=MessageType.CERT_REP,
        transaction_id=request.transaction_id,
        sender_nonce=new_nonce(),
        recipient_nonce=request.sender_nonce,
        pki_status=status,
        fail_info=fail_info,
    )
    return PKIOperationResult(
        response=response,
        certificate=certificate,
        transaction_id=request.transaction_id,
        status=status.name,
        fail_reason=fail_info.name if fail_info else None,
    )
