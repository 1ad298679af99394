"""What a server serves behind an asset's ``Reference.DataURL``, checked before it is stored.

- Data and certificate assets serve bytes: a certificate asset's must be one X.509 certificate (Apple
  takes ``application/pem`` or DER, which its schema calls ``application/pkcs1``), a JSON data asset's
  must be JSON.
- Credential assets serve a JSON document of Apple's credential schemas (``assets/credentials/*.yaml``):
  ``com.apple.credential.usernameandpassword`` (``UserName``, ``Password``) and
  ``com.apple.credential.identity`` (``Password`` and the PKCS #12 ``Identity`` it opens, Base64 in JSON).

Only a user name may hold variables (``$EMAIL``...): a password or a key is sent as it was given. Every
check is bounded by the input's size (the PKCS #12 key derivation by ``MAX_PKCS12_ITERATIONS``).
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from mdm_core import bounded_json
from mdm_core.capabilities import check_keys
from mdm_core.ddm import DdmError
from mdm_core.ddm.declarations import canonical_json
from mdm_core.ddm.tables import asset_data_keys

DATA = "com.apple.asset.data"
CERTIFICATE = "com.apple.asset.credential.certificate"
USER_PASSWORD = "com.apple.asset.credential.userpassword"
IDENTITY = "com.apple.asset.credential.identity"
#: Credential asset type -> the name of the credential document its DataURL serves.
CREDENTIALS = {USER_PASSWORD: "usernameandpassword", IDENTITY: "identity"}
#: The credential keys that may hold variables.
VARIABLE_KEYS = {USER_PASSWORD: ("UserName",)}
CREDENTIAL_CONTENT_TYPE = "application/json"
#: A credential document (an identity is a few KiB; a chain of certificates a few more).
MAX_CREDENTIAL_BYTES = 64 * 1024
#: PBKDF rounds a PKCS #12 may ask for (tools use 2,048 to 600,000): more would let a file cost minutes.
MAX_PKCS12_ITERATIONS = 1_000_000
#: All of a file's derivations together: an ordinary identity has three (MAC, certificates, key); a hostile one
#: could carry hundreds of keys, each under the per-derivation limit, in a few kilobytes.
MAX_PKCS12_TOTAL_ITERATIONS = 4 * MAX_PKCS12_ITERATIONS
_PEM = b"-----BEGIN"


class AssetDataError(DdmError):
    """The data or credential is not what the asset says it is; the message says why, naming the key."""


def data_content_type(asset_type: str, data: bytes, content_type: str | None) -> str:
    """The media type ``data`` is served as, once it proved to be what ``asset_type`` says; AssetDataError if not."""
    if asset_type == CERTIFICATE:
        pem = data.lstrip().startswith(_PEM)
        try:
            (x509.load_pem_x509_certificate if pem else x509.load_der_x509_certificate)(data)
        except ValueError:
            raise AssetDataError("a certificate asset's data must be one X.509 certificate, PEM or DER") from None
        found = "application/pem" if pem else "application/pkcs1"
        if content_type not in (None, found):
            raise AssetDataError(f"this certificate is {'PEM' if pem else 'DER'}: Reference.ContentType must be {found}")
        return found
    content_type = content_type or "application/octet-stream"
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            bounded_json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise AssetDataError(f"the data is not JSON, as Reference.ContentType {content_type} says") from None
    return content_type


def read_credential(asset_type: str, credential: Any) -> dict[str, Any]:
    """The credential document a credential asset serves, checked against Apple's schema; AssetDataError if not."""
    if asset_type not in CREDENTIALS:
        raise AssetDataError(f"credential is only for {', '.join(CREDENTIALS)}")
    if not isinstance(credential, Mapping):
        raise AssetDataError("credential must be a JSON object such as {\"UserName\": \"...\", \"Password\": \"...\"}")
    try:
        size = len(canonical_json(credential))
    except (TypeError, ValueError, RecursionError):
        raise AssetDataError("credential holds values JSON cannot carry") from None
    if size > MAX_CREDENTIAL_BYTES:
        raise AssetDataError(f"credential is {size} bytes; at most {MAX_CREDENTIAL_BYTES} are accepted")
    problems: list = []
    check_keys(credential, asset_data_keys(CREDENTIALS[asset_type]) or {}, None, problems, unknown_severity="error",
               payload_type=CREDENTIALS[asset_type], path="credential.")
    if problems:
        raise AssetDataError("; ".join(problem.message for problem in problems))
    if asset_type == IDENTITY:
        _check_identity(credential["Identity"], credential["Password"])
    return dict(credential)


def _check_identity(identity: str, password: str) -> None:
    """The PKCS #12 must hold a key and its certificate, and open with the password given beside it."""
    try:
        der = base64.b64decode(identity, validate=True)
    except (binascii.Error, ValueError):
        raise AssetDataError("credential.Identity must be the PKCS #12 file in Base64") from None
    _check_iterations(der)
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(der, password.encode())
    except ValueError:
        raise AssetDataError("credential.Identity does not open with credential.Password "
                             "(or is not a PKCS #12 file)") from None
    if key is None or certificate is None:
        raise AssetDataError("credential.Identity must hold a private key and its certificate")


def _check_iterations(der: bytes) -> None:
    """Refuse a PKCS #12 whose key derivations (its MAC, its encrypted parts) ask for too many rounds."""
    try:
        pfx = asn1_pkcs12.Pfx.load(der)
        counts = [pfx["mac_data"]["iterations"].native] if pfx["mac_data"].native else []
        for info in pfx.authenticated_safe:
            if info["content_type"].native == "encrypted_data":
                counts.append(info["content"]["encrypted_content_info"]["content_encryption_algorithm"].kdf_iterations)
            elif info["content_type"].native == "data":
                counts += _key_bag_iterations(asn1_pkcs12.SafeContents.load(info["content"].native))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise AssetDataError("credential.Identity is not a PKCS #12 file") from None
    if any(count is None or count > MAX_PKCS12_ITERATIONS for count in counts):
        raise AssetDataError(f"credential.Identity asks for more than {MAX_PKCS12_ITERATIONS} key derivation rounds")
    if sum(counts) > MAX_PKCS12_TOTAL_ITERATIONS:
        raise AssetDataError(f"credential.Identity asks for more than {MAX_PKCS12_TOTAL_ITERATIONS} key derivation "
                             "rounds in all")


def _key_bag_iterations(contents: asn1_pkcs12.SafeContents) -> list[int | None]:
    """The rounds of every encrypted key in ``contents``, nested ``safeContents`` bags included (OpenSSL
    decrypts those too): walked without recursion, as a hostile file may nest them thousands deep."""
    counts, pending = [], [contents]
    while pending:
        for bag in pending.pop():
            if bag["bag_id"].native == "pkcs8_shrouded_key_bag":
                counts.append(bag["bag_value"]["encryption_algorithm"].kdf_iterations)
            elif bag["bag_id"].native == "safe_contents":
                pending.append(bag["bag_value"])
    return counts


def variable_part(asset_type: str, credential: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a credential that may hold variables (its user name), to check or fill them."""
    return {key: credential[key] for key in VARIABLE_KEYS.get(asset_type, ()) if key in credential}


def credential_document(asset_type: str, credential: Mapping[str, Any],
                        fill: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> bytes:
    """The JSON a device fetches; ``fill(part)`` fills the variables of ``variable_part``."""
    part = variable_part(asset_type, credential)
    return canonical_json({**credential, **(fill(part) if fill is not None and part else {})})

