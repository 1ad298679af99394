"""The user identity CA's certificate, for the RADIUS or VPN server that is to trust users' certificates.

Public, like SCEP's GetCACert that already serves it: a CA certificate is not a secret.
"""
from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Response, request

from ..errors import api_error
from ..pki import user_identity_ca
from . import bp

# format -> (encoding, content type, file extension)
FORMATS = {"pem": (Encoding.PEM, "application/x-pem-file", "pem"),
           "der": (Encoding.DER, "application/pkix-cert", "cer")}


@bp.get("/pki/user-identity-ca")
def user_identity_ca_certificate():
    chosen = request.args.get("format", "pem").lower()
    if chosen not in FORMATS:
        return api_error(400, "bad_request", "format must be pem or der")
    encoding, content_type, extension = FORMATS[chosen]
    return Response(user_identity_ca().certificate.public_bytes(encoding), content_type=content_type,
                    headers={"Content-Disposition": f'attachment; filename="user-identity-ca.{extension}"'})
