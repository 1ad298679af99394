"""CMS (PKCS#7) SignedData: signing with cryptography, verifying with asn1crypto.

cryptography can sign CMS but offers no verification API, so :func:`verify` parses the
structure with asn1crypto and checks the signature with cryptography's public keys.
It runs on every MDM request, so it parses once and converts only what it returns.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from .ca import Identity
from .lru import LRUCache

# DER of the OID 1.2.840.113549.1.7.2 (pkcs7-signedData), for the cheap sniff.
_SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")

# Content octets of the OID 1.2.840.113549.1.9.4 (messageDigest).
_MESSAGE_DIGEST_OID = bytes.fromhex("2a864886f70d010904")

# asn1crypto's digest names, which hashlib also knows.
_DIGESTS: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


# Which certificate signs, by SHA-256 of (certificates field, signer identifier): finding it
# walks asn1crypto structures, and a device sends the same certificate with every request.
_SIGNER_INDEX: LRUCache[bytes, int] = LRUCache(maxsize=100_000)


class CMSError(ValueError):
    """The bytes are not a CMS signature we accept; the message says why."""


class SignatureMismatchError(CMSError):
    """The structure is fine but the signature does not cover this content."""


@dataclass
class SignedContent:
    """What a verified SignedData holds.

    Signed attributes stay unparsed until :meth:`signed_attribute` asks for one, since
    only protocols with their own attributes (SCEP) need them.
    """

    content: bytes
    signer: x509.Certificate
    certificates: list[x509.Certificate]
    digest_algorithm: str
    _signed_attrs: asn1_cms.CMSAttributes | None = field(default=None, repr=False, compare=False)

    def signed_attribute(self, oid: str) -> bytes | None:
        """DER of the first value of the signed attribute ``oid`` (dotted), if present."""
        if self._signed_attrs is None:
            return None
        for attribute in self._signed_attrs:
            if attribute["type"].dotted == oid and len(attribute["values"]):
                return attribute["values"][0].dump()
        return None


def sign(
    data: bytes,
    identity: Identity,
    *,
    detached: bool = False,
    extra_certs: Sequence[x509.Certificate] = (),
) -> bytes:
    """DER CMS SignedData over the exact bytes of ``data`` (SHA-256)."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(
        identity.certificate, identity.private_key, hashes.SHA256()
    )
    for certificate in extra_certs:
        builder = builder.add_certificate(certificate)
    options = [pkcs7.PKCS7Options.Binary]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    return builder.sign(serialization.Encoding.DER, options)


def is_cms(data: bytes) -> bool:
    """Cheap sniff: a DER SEQUENCE whose first element is the pkcs7-signedData OID."""
    if len(data) < 2 + len(_SIGNED_DATA_OID) or data[0] != 0x30:
        return False
    length_byte = data[1]
    header = 2 + (length_byte & 0x7F if length_byte > 0x80 else 0)
    return data[header : header + len(_SIGNED_DATA_OID)] == _SIGNED_DATA_OID


def _load_signed_data(signed: bytes) -> asn1_cms.SignedData:
    if not signed:
        raise CMSError("empty signature")
    info = asn1_cms.ContentInfo.load(signed)
    content_type = info["content_type"].native
    if content_type != "signed_data":
        raise CMSError(f"not a CMS SignedData (content type {content_type})")
    return info["content"]


def _find_signer(signer_info: asn1_cms.SignerInfo, certificates: list[x509.Certificate]) -> x509.Certificate:
    """The signer's certificate, by issuerAndSerialNumber or subjectKeyIdentifier."""
    sid = signer_info["sid"]
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        issuer = sid.chosen["issuer"].dump()
        for certificate in certificates:
            if certificate.serial_number == serial and certificate.issuer.public_bytes() == issuer:
                return certificate
    else:
        key_id = sid.chosen.native
        for certificate in certificates:
            try:
                extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if extension.value.digest == key_id:
                return certificate
    raise CMSError("the signer's certificate is not in the signature")


def _cached_signer(
    certificates_field: asn1_cms.CertificateSet, signer_info: asn1_cms.SignerInfo, certificates: list[x509.Certificate]
) -> x509.Certificate:
    key = hashlib.sha256(certificates_field.dump() + signer_info["sid"].dump()).digest()
    index = _SIGNER_INDEX.get(key)
    if index is None:
        signer = _find_signer(signer_info, certificates)
        _SIGNER_INDEX.put(key, certificates.index(signer))
        return signer
    return certificates[index]


def _check_signature(
    certificate: x509.Certificate, signature: bytes, data: bytes, digest: hashes.HashAlgorithm
) -> None:
    public_key = certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), digest)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(digest))
        else:
            raise CMSError(f"unsupported signer key type {type(public_key).__name__}")
    except InvalidSignature:
        raise SignatureMismatchError("the signature is not valid") from None


def verify(signed: bytes, *, detached_content: bytes | None = None) -> SignedContent:
    """Verify a DER CMS SignedData and return its content and signer.

    With ``detached_content`` the signature is checked over those bytes (a detached
    signature such as ``Mdm-Signature``). Only the first signer is checked, and the
    signer's certificate chain is not: that is the caller's policy.
    """
    try:
        return _verify(signed, detached_content)
    except CMSError:
        raise
    except Exception as exc:  # asn1crypto raises assorted errors on malformed input
        raise CMSError(f"not a valid DER CMS SignedData: {exc.__class__.__name__}") from None


def _verify(signed: bytes, detached_content: bytes | None) -> SignedContent:
    signed_data = _load_signed_data(signed)
    encapsulated = signed_data["encap_content_info"]
    if detached_content is not None:
        content = detached_content
    elif encapsulated["content"].native is not None:
        content = encapsulated["content"].native
    else:
        raise CMSError("the signature is detached and no content was given")

    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) == 0:
        raise CMSError("the SignedData has no signer")
    signer_info = signer_infos[0]

    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _DIGESTS:
        raise CMSError(f"unsupported digest algorithm {digest_name}")
    digest = _DIGESTS[digest_name]

    try:
        certificates = [
            x509.load_der_x509_certificate(choice.chosen.dump())
            for choice in signed_data["certificates"]
            if choice.name == "certificate"
        ]
    except ValueError:
        raise CMSError("a certificate in the signature cannot be parsed") from None
    signer = _cached_signer(signed_data["certificates"], signer_info, certificates)

    signed_attrs = signer_info["signed_attrs"]
    if len(signed_attrs):
        message_digest = None
        for attribute in signed_attrs:
            if attribute["type"].contents == _MESSAGE_DIGEST_OID and len(attribute["values"]):
                message_digest = attribute["values"][0].native
                break
        if message_digest is None:
            raise CMSError("the signed attributes have no message digest")
        actual = hashlib.new(digest_name, content).digest()
        if not hmac.compare_digest(actual, message_digest):
            raise SignatureMismatchError("the content does not match the signed message digest")
        # The signature covers the attributes encoded as a SET, not with their [0] tag.
        signed_bytes = b"\x31" + signed_attrs.dump()[1:]
    else:
        signed_attrs = None
        signed_bytes = content

    signature_algorithm = signer_info["signature_algorithm"].signature_algo
    if signature_algorithm not in ("rsassa_pkcs1v15", "ecdsa"):
        raise CMSError(f"unsupported signature algorithm {signature_algorithm}")
    _check_signature(signer, signer_info["signature"].native, signed_bytes, digest)
    return SignedContent(content, signer, certificates, digest_name, signed_attrs)
