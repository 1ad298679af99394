"""Decrypting the EnvelopedData inside a SCEP request.

cryptography's ``pkcs7_decrypt_der`` accepts strict DER with AES only, while real SCEP
clients send BER (micromdm's ``scepclient`` wraps the ciphertext in a constructed
OCTET STRING) and older ones always encrypt with DES-CBC or DES-EDE3-CBC whatever the
server advertises. So the envelope is parsed with asn1crypto (BER-tolerant) and decrypted
with cryptography's primitives: RSA key transport, then AES-CBC or (Triple)DES-CBC.
"""
from __future__ import annotations

from asn1crypto import cms as asn1_cms
from asn1crypto import parser
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..ca import Identity


class EnvelopeError(ValueError):
    """The envelope cannot be decrypted with our key."""


class UnsupportedCipherError(EnvelopeError):
    """The envelope uses a cipher we do not decrypt."""


def decrypt(enveloped: bytes, recipient: Identity) -> bytes:
    """The plaintext of a DER/BER EnvelopedData ContentInfo encrypted to ``recipient``."""
    try:
        info = asn1_cms.ContentInfo.load(enveloped)
        if info["content_type"].native != "enveloped_data":
            raise EnvelopeError("the request content is not an EnvelopedData")
        envelope = info["content"]
        encrypted_content = envelope["encrypted_content_info"]
        algorithm = encrypted_content["content_encryption_algorithm"]
        cipher_name = algorithm.encryption_cipher
        iv = algorithm.encryption_iv
        ciphertext = _encrypted_octets(encrypted_content.contents)
        encrypted_key = _encrypted_key_for(envelope, recipient)
    except EnvelopeError:
        raise
    except Exception as exc:  # asn1crypto raises assorted errors on malformed or unknown input
        raise EnvelopeError(f"malformed envelope: {exc.__class__.__name__}") from None
    if cipher_name not in ("aes", "des", "tripledes") or not ciphertext:
        raise UnsupportedCipherError(f"unsupported content cipher {algorithm['algorithm'].native}")

    try:
        key = recipient.private_key.decrypt(encrypted_key, padding.PKCS1v15())
        if cipher_name == "aes":
            cipher, block_bits = algorithms.AES(key), 128
        else:
            # Single DES is DES-EDE3 with three equal keys.
            cipher, block_bits = TripleDES(key * 3 if len(key) == 8 else key), 64
        decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = symmetric_padding.PKCS7(block_bits).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise EnvelopeError("cannot decrypt the envelope") from None


def _encrypted_octets(encrypted_content_info: bytes) -> bytes:
    """The ``[0] encryptedContent`` of an EncryptedContentInfo, primitive or constructed.

    asn1crypto refuses the constructed (BER) form of this implicitly tagged field.
    """
    for tag_class, method, tag, contents in _children(encrypted_content_info):
        if tag_class == 2 and tag == 0:
            return _octet_string_value(method, contents)
    return b""


def _octet_string_value(method: int, contents: bytes) -> bytes:
    if method == 0:
        return contents
    return b"".join(_octet_string_value(m, c) for _, m, _, c in _children(contents))


def _children(data: bytes):
    offset = 0
    while offset < len(data):
        length = parser.peek(data[offset:])
        tag_class, method, tag, _, contents, _ = parser.parse(data[offset : offset + length])
        yield tag_class, method, tag, contents
        offset += length


def _encrypted_key_for(envelope: asn1_cms.EnvelopedData, recipient: Identity) -> bytes:
    serial = recipient.certificate.serial_number
    issuer = recipient.certificate.issuer.public_bytes()
    for info in envelope["recipient_infos"]:
        if info.name != "ktri":
            continue
        rid = info.chosen["rid"]
        if (
            rid.name == "issuer_and_serial_number"
            and rid.chosen["serial_number"].native == serial
            and rid.chosen["issuer"].dump() == issuer
        ):
            return info.chosen["encrypted_key"].native
    raise EnvelopeError("the envelope is not encrypted to this server's CA")
