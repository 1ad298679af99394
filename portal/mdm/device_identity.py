"""Who is calling: the certificate a device signs with, checked against our CA."""
from __future__ import annotations

from flask import current_app
from werkzeug.datastructures import EnvironHeaders

from mdm_core.ca import certificate_fingerprint
from mdm_core.identity import IdentityError, mdm_signer, verify_client_certificate

from ..pki import device_ca


def signer_fingerprint(headers: EnvironHeaders, body: bytes) -> str:
    """The SHA-256 fingerprint of the verified device certificate, or IdentityError.

    A TLS-terminating proxy may pass the client certificate in the header named by
    MDM_CLIENT_CERT_HEADER; otherwise the ``Mdm-Signature`` header must sign the body.
    """
    ca_certificate = device_ca().certificate
    proxy_header = current_app.config.get("MDM_CLIENT_CERT_HEADER")
    if proxy_header and headers.get(proxy_header):
        return certificate_fingerprint(verify_client_certificate(headers[proxy_header], ca_certificate))
    header = headers.get("Mdm-Signature")
    if not header:
        raise IdentityError("missing signature")
    return mdm_signer(header, body, ca_certificate)[1]
