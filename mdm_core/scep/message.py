"""The SCEP pkiMessage: a CMS SignedData carrying SCEP's own signed attributes.

cryptography's PKCS7SignatureBuilder cannot add custom signed attributes, so the
SignedData is assembled with asn1crypto and signed with cryptography; verification
reuses :func:`mdm_core.cms.verify`.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from enum import Enum

from asn1crypto import algos, core
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from .. import cms
from ..ca import Identity

OID_MESSAGE_TYPE = "2.16.840.1.113733.1.9.2"
OID_PKI_STATUS = "2.16.840.1.113733.1.9.3"
OID_FAIL_INFO = "2.16.840.1.113733.1.9.4"
OID_SENDER_NONCE = "2.16.840.1.113733.1.9.5"
OID_RECIPIENT_NONCE = "2.16.840.1.113733.1.9.6"
OID_TRANSACTION_ID = "2.16.840.1.113733.1.9.7"

PKI_MESSAGE_CONTENT_TYPE = "application/x-pki-message"

_HASHES: dict[str, hashes.HashAlgorithm] = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}


class SCEPError(ValueError):
    """A SCEP message is malformed, not authentic, or the server refused; the message says why."""


class MessageType(str, Enum):
    CERT_REP = "3"
    RENEWAL_REQ = "17"
    PKCS_REQ = "19"
    CERT_POLL = "20"
    GET_CERT = "21"
    GET_CRL = "22"


class PKIStatus(str, Enum):
    SUCCESS = "0"
    FAILURE = "2"
    PENDING = "3"


class FailInfo(str, Enum):
    """RFC 8894 failInfo values; the member names are the RFC's spelling."""

    badAlg = "0"
    badMessageCheck = "1"
    badRequest = "2"
    badTime = "3"
    badCertId = "4"


@dataclass(frozen=True)
class PKIMessage:
    """A verified pkiMessage: its SCEP attributes and its (still enveloped) content."""

    message_type: str
    transaction_id: str
    sender_nonce: bytes | None
    recipient_nonce: bytes | None
    pki_status: str | None
    fail_info: str | None
    content: bytes
    signer: x509.Certificate


def new_nonce() -> bytes:
    return os.urandom(16)


def _string(value: str) -> core.PrintableString:
    return core.PrintableString(value)


def build_pki_message(
    content: bytes | None,
    signer: Identity,
    *,
    message_type: MessageType,
    transaction_id: str,
    sender_nonce: bytes,
    recipient_nonce: bytes | None = None,
    pki_status: PKIStatus | None = None,
    fail_info: FailInfo | None = None,
    digest: str = "sha256",
) -> bytes:
    """DER SignedData over ``content`` (absent for failures) with the SCEP attributes."""
    if digest not in _HASHES:
        raise SCEPError(f"unsupported digest {digest}")
    attributes = [
        asn1_cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        asn1_cms.CMSAttribute(
            {"type": "message_digest", "values": [hashlib.new(digest, content or b"").digest()]}
        ),
        asn1_cms.CMSAttribute({"type": OID_MESSAGE_TYPE, "values": [_string(message_type.value)]}),
        asn1_cms.CMSAttribute({"type": OID_TRANSACTION_ID, "values": [_string(transaction_id)]}),
        asn1_cms.CMSAttribute({"type": OID_SENDER_NONCE, "values": [core.OctetString(sender_nonce)]}),
    ]
    if recipient_nonce is not None:
        attributes.append(
            asn1_cms.CMSAttribute({"type": OID_RECIPIENT_NONCE, "values": [core.OctetString(recipient_nonce)]})
        )
    if pki_status is not None:
        attributes.append(asn1_cms.CMSAttribute({"type": OID_PKI_STATUS, "values": [_string(pki_status.value)]}))
    if fail_info is not None:
        attributes.append(asn1_cms.CMSAttribute({"type": OID_FAIL_INFO, "values": [_string(fail_info.value)]}))
    # asn1crypto encodes the SET OF in DER order; the signature covers exactly this encoding.
    signed_attrs = asn1_cms.CMSAttributes(attributes)
    signature = signer.private_key.sign(signed_attrs.dump(), padding.PKCS1v15(), _HASHES[digest])

    certificate = asn1_x509.Certificate.load(signer.certificate.public_bytes(serialization.Encoding.DER))
    signer_info = asn1_cms.SignerInfo(
        {
            "version": "v1",
            "sid": asn1_cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": asn1_cms.IssuerAndSerialNumber(
                        {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
            "signature": signature,
        }
    )
    encapsulated = {"content_type": "data"}
    if content is not None:
        encapsulated["content"] = content
    signed_data = asn1_cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest})],
            "encap_content_info": encapsulated,
            "certificates": [certificate],
            "signer_infos": [signer_info],
        }
    )
    return asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def _has_content(message: bytes) -> bool:
    try:
        info = asn1_cms.ContentInfo.load(message)
        return info["content"]["encap_content_info"]["content"].native is not None
    except Exception:  # malformed input: let cms.verify report it
        return True


def _attribute(verified: cms.SignedContent, oid: str):
    try:
        value = verified.signed_attribute(oid)
        return None if value is None else core.load(value).native
    except ValueError:  # cms.CMSError or asn1crypto's refusal
        raise SCEPError(f"SCEP attribute {oid} is malformed") from None


def _text(verified: cms.SignedContent, oid: str) -> str | None:
    value = _attribute(verified, oid)
    if value is not None and not isinstance(value, str):
        raise SCEPError(f"SCEP attribute {oid} must be a string")
    return value


def _octets(verified: cms.SignedContent, oid: str) -> bytes | None:
    value = _attribute(verified, oid)
    if value is not None and not isinstance(value, bytes):
        raise SCEPError(f"SCEP attribute {oid} must be an octet string")
    return value


def parse_pki_message(message: bytes) -> PKIMessage:
    """Verify a pkiMessage's signature (not its signer's chain) and read its attributes."""
    # Failure replies carry no content; their messageDigest covers the empty string.
    detached = None if _has_content(message) else b""
    try:
        verified = cms.verify(message, detached_content=detached)
    except cms.CMSError as exc:
        raise SCEPError(f"invalid pkiMessage: {exc}") from None
    message_type = _text(verified, OID_MESSAGE_TYPE)
    transaction_id = _text(verified, OID_TRANSACTION_ID)
    if message_type is None or transaction_id is None:
        raise SCEPError("the pkiMessage lacks its messageType or transactionID")
    return PKIMessage(
        message_type=message_type,
        transaction_id=transaction_id,
        sender_nonce=_octets(verified, OID_SENDER_NONCE),
        recipient_nonce=_octets(verified, OID_RECIPIENT_NONCE),
        pki_status=_text(verified, OID_PKI_STATUS),
        fail_info=_text(verified, OID_FAIL_INFO),
        content=verified.content,
        signer=verified.signer,
    )
