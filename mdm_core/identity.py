"""Device identity on every MDM request: who signed this body, and did we issue them?

A device proves its identity either with the ``Mdm-Signature`` header (a detached CMS
signature over the request body) or, behind a TLS-terminating proxy, with the client
certificate the proxy forwards. Either way the certificate must be issued directly by
our CA and be within its validity dates; binding it to an enrollment is the caller's job.
"""
from __future__ import annotations

import binascii
import datetime as dt
import functools
from base64 import b64decode
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from . import cms
from .lru import LRUCache

# Pairs (certificate SHA-256, CA SHA-256) whose issuance signature checked out: a device signs
# every request with the same certificate, so the public-key operation runs once per device.
_ISSUED_BY: LRUCache[tuple[bytes, bytes], bool] = LRUCache(maxsize=100_000)


class IdentityError(ValueError):
    """The request does not prove a device identity; the message is a short reason to log."""


@functools.lru_cache(maxsize=8)
def _ca_fingerprint(ca_certificate: x509.Certificate) -> bytes:
    """The CA's SHA-256 fingerprint, computed once: the same CA signs off every request."""
    return ca_certificate.fingerprint(hashes.SHA256())


def _check_issued_by(
    certificate: x509.Certificate,
    ca_certificate: x509.Certificate,
    now: dt.datetime | None,
    fingerprint: bytes | None = None,
) -> x509.Certificate:
    """``certificate``, if ``ca_certificate`` issued it and it is valid ``now``.

    ``fingerprint`` is the certificate's SHA-256 fingerprint when the caller already has it.
    """
    key = (fingerprint or certificate.fingerprint(hashes.SHA256()), _ca_fingerprint(ca_certificate))
    if not _ISSUED_BY.get(key):
        try:
            certificate.verify_directly_issued_by(ca_certificate)
        except Exception:  # ValueError, TypeError or InvalidSignature: all mean "not ours"
            raise IdentityError("certificate not issued by this server") from None
        _ISSUED_BY.put(key, True)
    moment = now or dt.datetime.now(dt.timezone.utc)
    if moment > certificate.not_valid_after_utc:
        raise IdentityError("certificate expired")
    if moment < certificate.not_valid_before_utc:
        raise IdentityError("certificate not yet valid")
    return certificate


def verify_mdm_signature(
    header_value: str | None,
    body: bytes,
    ca_certificate: x509.Certificate,
    *,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """Return the certificate that signed ``body`` through the ``Mdm-Signature`` header."""
    return mdm_signer(header_value, body, ca_certificate, now=now)[0]


def mdm_signer(
    header_value: str | None,
    body: bytes,
    ca_certificate: x509.Certificate,
    *,
    now: dt.datetime | None = None,
) -> tuple[x509.Certificate, str]:
    """:func:`verify_mdm_signature`, with the certificate's SHA-256 fingerprint as lowercase hex
    (``ca.certificate_fingerprint``), which the signature check already computed."""
    if not header_value or not header_value.strip():
        raise IdentityError("missing signature")
    try:
        signature = b64decode("".join(header_value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise IdentityError("malformed signature") from None
    try:
        verified = cms.verify(signature, detached_content=body)
    except cms.SignatureMismatchError:
        raise IdentityError("signature does not match body") from None
    except cms.CMSError:
        raise IdentityError("malformed signature") from None
    return (_check_issued_by(verified.signer, ca_certificate, now, verified.signer_fingerprint),
            verified.signer_fingerprint.hex())


def verify_client_certificate(
    pem_or_urlencoded_pem: str | None,
    ca_certificate: x509.Certificate,
    *,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """Return the client certificate a proxy forwarded in a header, checked against our CA.

    Accepts plain PEM, URL-encoded PEM (nginx ``$ssl_client_escaped_cert``) and PEM whose
    newlines became tabs (nginx's older ``$ssl_client_cert``).
    """
    if not pem_or_urlencoded_pem or not pem_or_urlencoded_pem.strip():
        raise IdentityError("missing certificate")
    text = pem_or_urlencoded_pem.strip()
    if "%" in text:
        text = unquote(text)
    text = text.replace("\t", "\n")
    try:
        certificate = x509.load_pem_x509_certificate(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise IdentityError("malformed certificate") from None
    return _check_issued_by(certificate, ca_certificate, now)
