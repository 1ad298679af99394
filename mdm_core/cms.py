"""CMS (PKCS#7) SignedData: signing with cryptography, verifying with a small DER reader.

cryptography can sign CMS but offers no verification API, so :func:`verify` walks the
structure with :mod:`mdm_core.der` and checks the signature with cryptography's public keys.
It runs on every MDM request: it reads only the fields verification needs, and remembers
which certificate signs for a device that sends the same certificates every time.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from . import der
from .ca import Identity
from .lru import LRUCache

# DER of the OID 1.2.840.113549.1.7.2 (pkcs7-signedData), for the cheap sniff.
_SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")

# DER of the OID 1.2.840.113549.1.9.4 (messageDigest), as an Attribute starts.
_MESSAGE_DIGEST_TYPE = bytes.fromhex("06092a864886f70d010904")

# Digest algorithms by OID content octets, named as hashlib names them.
_DIGESTS: dict[bytes, tuple[str, hashes.HashAlgorithm]] = {
    bytes.fromhex("2b0e03021a"): ("sha1", hashes.SHA1()),
    bytes.fromhex("608648016503040201"): ("sha256", hashes.SHA256()),
    bytes.fromhex("608648016503040202"): ("sha384", hashes.SHA384()),
    bytes.fromhex("608648016503040203"): ("sha512", hashes.SHA512()),
}

_RSA = "rsassa_pkcs1v15"
_ECDSA = "ecdsa"

# Signature algorithms by OID content octets; the digest comes from the digestAlgorithm field.
_SIGNATURE_ALGORITHMS: dict[bytes, str] = {
    bytes.fromhex("2a864886f70d010101"): _RSA,  # rsaEncryption
    bytes.fromhex("2a864886f70d010105"): _RSA,  # sha1WithRSAEncryption
    bytes.fromhex("2a864886f70d01010e"): _RSA,  # sha224WithRSAEncryption
    bytes.fromhex("2a864886f70d01010b"): _RSA,  # sha256WithRSAEncryption
    bytes.fromhex("2a864886f70d01010c"): _RSA,  # sha384WithRSAEncryption
    bytes.fromhex("2a864886f70d01010d"): _RSA,  # sha512WithRSAEncryption
    bytes.fromhex("2a8648ce3d0401"): _ECDSA,  # ecdsa-with-SHA1
    bytes.fromhex("2a8648ce3d040301"): _ECDSA,  # ecdsa-with-SHA224
    bytes.fromhex("2a8648ce3d040302"): _ECDSA,  # ecdsa-with-SHA256
    bytes.fromhex("2a8648ce3d040303"): _ECDSA,  # ecdsa-with-SHA384
    bytes.fromhex("2a8648ce3d040304"): _ECDSA,  # ecdsa-with-SHA512
}

_IMPLICIT_0 = 0xA0  # [0], constructed: eContent, certificates, signedAttrs
_IMPLICIT_1 = 0xA1  # [1], constructed: crls, unsignedAttrs
_SUBJECT_KEY_IDENTIFIER = 0x80  # [0] IMPLICIT OCTET STRING in a SignerIdentifier


# Which certificate signs (its index) and its SHA-256 fingerprint, by SHA-256 of (certificates
# field, signer identifier): a device sends the same certificates with every request, so the
# search runs once per device.
_SIGNERS: LRUCache[bytes, tuple[int, bytes]] = LRUCache(maxsize=100_000)


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
    signer_fingerprint: bytes  # SHA-256 of the signer's certificate, as x509 fingerprint() gives it
    _signed_attrs: bytes | None = field(default=None, repr=False, compare=False)

    def signed_attribute(self, oid: str) -> bytes | None:
        """DER of the first value of the signed attribute ``oid`` (dotted), if present.

        Raises :class:`CMSError` if the signed attributes are malformed: :func:`verify` reads
        only the messageDigest among them.
        """
        if self._signed_attrs is None:
            return None
        attributes = self._signed_attrs
        try:
            for attribute_type, values in _attributes(attributes, 0, len(attributes)):
                if der.dotted(attributes[attribute_type[0] : attribute_type[1]]) == oid:
                    return attributes[values[0] : values[1]] if values else None
        except der.DERError as exc:
            raise CMSError(f"the signed attributes are malformed: {exc}") from None
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


def _attributes(data: bytes, start: int, end: int) -> list[tuple[tuple[int, int], tuple[int, int] | None]]:
    """Each Attribute in ``data[start:end]``: (type OID content, first value's encoding or None), as offsets."""
    attributes = []
    for tag, offset, content, stop, _ in der.children(data, start, end):
        if tag != der.SEQUENCE:
            raise der.DERError(f"expected an Attribute (SEQUENCE) at offset {offset}")
        type_start, type_stop, after = der.expect(data, content, stop, der.OID, "attrType")
        values_start, values_stop, after = der.expect(data, after, stop, der.SET, "attrValues")
        _no_more(after, stop, "Attribute")
        first = None
        if values_start < values_stop:
            first = (values_start, der.read(data, values_start, values_stop)[3])
        attributes.append(((type_start, type_stop), first))
    return attributes


def _message_digest(data: bytes, start: int, end: int) -> bytes | None:
    """The messageDigest value among the signed attributes ``data[start:end]``, if any.

    The other attributes are only skipped: the signature covers them, and
    :meth:`SignedContent.signed_attribute` reads them fully when asked.
    """
    for tag, offset, content, stop, _ in der.children(data, start, end):
        if tag == der.SEQUENCE and data.startswith(_MESSAGE_DIGEST_TYPE, content):
            values_start, values_stop, after = der.expect(
                data, content + len(_MESSAGE_DIGEST_TYPE), stop, der.SET, "messageDigest values"
            )
            _no_more(after, stop, "messageDigest attribute")
            value, after = der.octet_string(data, values_start, values_stop, "messageDigest")
            _no_more(after, values_stop, "messageDigest values")
            return value
    return None


def _no_more(offset: int, end: int, what: str) -> None:
    if offset != end:
        raise der.DERError(f"unexpected element at offset {offset} at the end of the {what}")


def _optional(data: bytes, offset: int, end: int, tag: int) -> tuple[int, int, int, int] | None:
    """``(offset, content start, content end, next)`` of the element at ``offset`` if it carries ``tag``."""
    if offset < end and data[offset] == tag:
        _, start, stop, after = der.read(data, offset, end)
        return offset, start, stop, after
    return None


def _algorithm(data: bytes, offset: int, end: int, what: str) -> tuple[bytes, int]:
    """(OID content octets, next offset) of an AlgorithmIdentifier; its parameters are not read."""
    start, stop, after = der.expect(data, offset, end, der.SEQUENCE, what)
    oid_start, oid_stop, _ = der.expect(data, start, stop, der.OID, f"{what} algorithm")
    return data[oid_start:oid_stop], after


@dataclass(slots=True)
class _SignerInfo:
    """The fields of the first SignerInfo, as bytes or offsets into the signature."""

    sid: bytes
    issuer: bytes | None
    serial_number: int | None
    key_id: bytes | None
    digest_oid: bytes
    signed_attrs: tuple[int, int, int, int] | None
    signature_oid: bytes
    signature: bytes


def _signer_info(data: bytes, offset: int, end: int) -> _SignerInfo:
    start, stop, _ = der.expect(data, offset, end, der.SEQUENCE, "SignerInfo")
    _, _, offset = der.expect(data, start, stop, der.INTEGER, "SignerInfo version")
    tag, sid_start, sid_stop, after = der.read(data, offset, stop)
    sid = data[offset:after]
    issuer = serial_number = key_id = None
    if tag == der.SEQUENCE:
        _, _, serial_offset = der.expect(data, sid_start, sid_stop, der.SEQUENCE, "issuer")
        issuer = data[sid_start:serial_offset]
        serial_start, serial_stop, sid_end = der.expect(data, serial_offset, sid_stop, der.INTEGER, "serialNumber")
        serial_number = der.integer(data, serial_start, serial_stop)
        _no_more(sid_end, sid_stop, "issuerAndSerialNumber")
    elif tag == _SUBJECT_KEY_IDENTIFIER:
        key_id = data[sid_start:sid_stop]
    else:
        raise der.DERError(f"unknown signer identifier (tag 0x{tag:02x}) at offset {offset}")
    digest_oid, offset = _algorithm(data, after, stop, "digestAlgorithm")
    signed_attrs = _optional(data, offset, stop, _IMPLICIT_0)
    if signed_attrs is not None:
        offset = signed_attrs[3]
    signature_oid, offset = _algorithm(data, offset, stop, "signatureAlgorithm")
    signature, offset = der.octet_string(data, offset, stop, "signature")
    unsigned_attrs = _optional(data, offset, stop, _IMPLICIT_1)
    _no_more(unsigned_attrs[3] if unsigned_attrs else offset, stop, "SignerInfo")
    return _SignerInfo(sid, issuer, serial_number, key_id, digest_oid, signed_attrs, signature_oid, signature)


def _find_signer(signer_info: _SignerInfo, certificates: list[x509.Certificate]) -> x509.Certificate:
    """The signer's certificate, by issuerAndSerialNumber or subjectKeyIdentifier."""
    if signer_info.issuer is not None:
        for certificate in certificates:
            if (
                certificate.serial_number == signer_info.serial_number
                and certificate.issuer.public_bytes() == signer_info.issuer
            ):
                return certificate
    else:
        for certificate in certificates:
            try:
                extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except (x509.ExtensionNotFound, x509.DuplicateExtension, x509.UnsupportedGeneralNameType, ValueError):
                continue  # without a readable key identifier it is not the signer
            if extension.value.digest == signer_info.key_id:
                return certificate
    raise CMSError("the signer's certificate is not in the signature")


def _cached_signer(
    certificates_field: bytes, signer_info: _SignerInfo, certificates: list[x509.Certificate], encodings: list[bytes]
) -> tuple[x509.Certificate, bytes]:
    """The signer's certificate and its fingerprint, ``encodings`` being the certificates' DER."""
    key = hashlib.sha256(certificates_field + signer_info.sid).digest()
    cached = _SIGNERS.get(key)
    if cached is None:
        index = certificates.index(_find_signer(signer_info, certificates))
        cached = (index, hashlib.sha256(encodings[index]).digest())
        _SIGNERS.put(key, cached)
    return certificates[cached[0]], cached[1]


def _check_signature(
    certificate: x509.Certificate, algorithm: str, signature: bytes, data: bytes, digest: hashes.HashAlgorithm
) -> None:
    try:
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CMSError("the signer's public key cannot be read") from None
    try:
        if algorithm == _RSA and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), digest)
        elif algorithm == _ECDSA and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(digest))
        else:
            raise CMSError(f"signature algorithm {algorithm} does not fit a {type(public_key).__name__}")
    except InvalidSignature:
        raise SignatureMismatchError("the signature is not valid") from None


def verify(signed: bytes, *, detached_content: bytes | None = None) -> SignedContent:
    """Verify a DER CMS SignedData and return its content and signer.

    With ``detached_content`` the signature is checked over those bytes (a detached
    signature such as ``Mdm-Signature``). Only the first signer is checked, and the
    signer's certificate chain is not: that is the caller's policy. BER's indefinite
    lengths are accepted on the outer layers (Apple devices use them).
    """
    try:
        return _verify(signed, detached_content)
    except CMSError:
        raise
    except ValueError as exc:  # der.DERError, or cryptography refusing a certificate's contents
        raise CMSError(f"not a valid DER CMS SignedData: {exc}") from None


def encapsulated_content(signed: bytes) -> bytes:
    """The content a DER CMS SignedData carries, without verifying anything.

    For showing what an upload holds when its signature does not verify (a warning there,
    not a refusal); never use it to trust the content.
    """
    try:
        _, _, encapsulated = _open_signed_data(signed)
    except CMSError:
        raise
    except ValueError as exc:
        raise CMSError(f"not a valid DER CMS SignedData: {exc}") from None
    if encapsulated is None:
        raise CMSError("the signature is detached: it carries no content")
    return encapsulated


def content_type(data: bytes) -> str | None:
    """The dotted contentType of a CMS ContentInfo (signedData, envelopedData...), or None
    when ``data`` does not start like one."""
    try:
        start, stop, _ = der.expect(data, 0, len(data), der.SEQUENCE, "ContentInfo")
        type_start, type_stop, _ = der.expect(data, start, stop, der.OID, "contentType")
        return der.dotted(data[type_start:type_stop])
    except der.DERError:
        return None


def _open_signed_data(signed: bytes) -> tuple[int, int, bytes | None]:
    """Walk a ContentInfo to its SignedData: ``(end of the SignedData content, offset after
    encapContentInfo, the encapsulated content or None when detached)``."""
    if not signed:
        raise CMSError("empty signature")
    end = len(signed)
    info_start, info_stop, after = der.expect(signed, 0, end, der.SEQUENCE, "ContentInfo")
    _no_more(after, end, "signature")
    type_start, type_stop, offset = der.expect(signed, info_start, info_stop, der.OID, "contentType")
    if signed[type_start:type_stop] != _SIGNED_DATA_OID[2:]:
        raise CMSError(f"not a CMS SignedData (content type {der.dotted(signed[type_start:type_stop])})")
    explicit_start, explicit_stop, after = der.expect(signed, offset, info_stop, _IMPLICIT_0, "content")
    _no_more(after, info_stop, "ContentInfo")
    start, stop, after = der.expect(signed, explicit_start, explicit_stop, der.SEQUENCE, "SignedData")
    _no_more(after, explicit_stop, "ContentInfo content")

    _, _, offset = der.expect(signed, start, stop, der.INTEGER, "SignedData version")
    _, _, offset = der.expect(signed, offset, stop, der.SET, "digestAlgorithms")
    encap_start, encap_stop, offset = der.expect(signed, offset, stop, der.SEQUENCE, "encapContentInfo")
    _, _, encap_offset = der.expect(signed, encap_start, encap_stop, der.OID, "eContentType")
    encapsulated = None
    econtent = _optional(signed, encap_offset, encap_stop, _IMPLICIT_0)
    if econtent is not None:
        encapsulated, econtent_end = der.octet_string(signed, econtent[1], econtent[2], "eContent")
        _no_more(econtent_end, econtent[2], "eContent")
        encap_offset = econtent[3]
    _no_more(encap_offset, encap_stop, "encapContentInfo")
    return stop, offset, encapsulated


def _verify(signed: bytes, detached_content: bytes | None) -> SignedContent:
    stop, offset, encapsulated = _open_signed_data(signed)
    certificates_field = b""
    certificates = []
    encodings = []
    field_ = _optional(signed, offset, stop, _IMPLICIT_0)
    if field_ is not None:
        certificates_field = signed[offset : field_[3]]
        for tag, element, _, _, element_end in der.children(signed, field_[1], field_[2]):
            if tag == der.SEQUENCE:
                encodings.append(signed[element:element_end])
                try:
                    certificates.append(x509.load_der_x509_certificate(encodings[-1]))
                except (ValueError, x509.InvalidVersion):
                    raise CMSError("a certificate in the signature cannot be parsed") from None
        offset = field_[3]
    crls = _optional(signed, offset, stop, _IMPLICIT_1)
    if crls is not None:
        offset = crls[3]
    infos_start, infos_stop, after = der.expect(signed, offset, stop, der.SET, "signerInfos")
    _no_more(after, stop, "SignedData")
    if infos_start == infos_stop:
        raise CMSError("the SignedData has no signer")
    signer_info = _signer_info(signed, infos_start, infos_stop)

    if detached_content is not None:
        content = detached_content
    elif encapsulated is not None:
        content = encapsulated
    else:
        raise CMSError("the signature is detached and no content was given")

    if signer_info.digest_oid not in _DIGESTS:
        raise CMSError(f"unsupported digest algorithm {der.dotted(signer_info.digest_oid)}")
    digest_name, digest = _DIGESTS[signer_info.digest_oid]
    algorithm = _SIGNATURE_ALGORITHMS.get(signer_info.signature_oid)
    if algorithm is None:
        raise CMSError(f"unsupported signature algorithm {der.dotted(signer_info.signature_oid)}")

    signer, signer_fingerprint = _cached_signer(certificates_field, signer_info, certificates, encodings)

    signed_attrs = None
    if signer_info.signed_attrs is None:
        signed_bytes = content
    else:
        attrs_offset, attrs_start, attrs_stop, attrs_end = signer_info.signed_attrs
        if signed[attrs_offset + 1] == 0x80:
            raise CMSError("the signed attributes use an indefinite length, which DER forbids")
        message_digest = _message_digest(signed, attrs_start, attrs_stop)
        if message_digest is None:
            raise CMSError("the signed attributes have no message digest")
        actual = hashlib.new(digest_name, content).digest()
        if not hmac.compare_digest(actual, message_digest):
            raise SignatureMismatchError("the content does not match the signed message digest")
        # The signature covers the attributes encoded as a SET, not with their [0] tag.
        signed_bytes = b"\x31" + signed[attrs_offset + 1 : attrs_end]
        signed_attrs = signed[attrs_start:attrs_stop]

    _check_signature(signer, algorithm, signer_info.signature, signed_bytes, digest)
    return SignedContent(content, signer, certificates, digest_name, signer_fingerprint, signed_attrs)
