"""Account-Driven User Enrollment (iOS 15+): the wire formats both sides of the exchange use.

The phone finds the server through ``/.well-known/com.apple.remotemanagement``, POSTs a
signed request to the ``BaseURL`` it names, is challenged with a ``401`` naming a web sign-in
page, receives an access token through a ``308`` to ``apple-remotemanagement-user-login://``,
and repeats the POST with ``Authorization: Bearer <token>`` to get its enrollment profile. It
then sends the same token on every MDM request. Syntax follows Apple's "Implementing the simple
authentication account-driven enrollment flow" and ``mdm/errors/well-known.failed.yaml``.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from asn1crypto import cms as asn1_cms

from mdm_core import cms, plist

DISCOVERY_PATH = "/.well-known/com.apple.remotemanagement"
SERVER_VERSION = "mdm-byod"
MODEL_FAMILIES = ("AppleTV", "iPad", "iPhone", "Mac", "RealityDevice", "Watch")
WELL_KNOWN_FAILED = "com.apple.well-known.failed"
WEB_AUTH_METHOD = "apple-as-web"
CALLBACK_SCHEME = "apple-remotemanagement-user-login"
CALLBACK_HOST = "authentication-results"
ACCESS_TOKEN_PARAMETER = "access-token"
MAX_REQUEST_BYTES = 64 * 1024
MAX_IDENTIFIER = 320
_REQUEST_KEYS = ("LANGUAGE", "PRODUCT", "VERSION")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_FQDN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
# name="value" followed by a comma (RFC 7235, Apple's form), whitespace (seen from a working server) or the end.
_AUTH_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)="((?:[^"\\]|\\.)*)"(?:\s*,|\s+|\s*$)')
_TOKEN68 = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


class AccountDrivenError(ValueError):
    """A message of the account-driven exchange is malformed; the message says which part."""


# Discovery -------------------------------------------------------------------------------


def split_user_identifier(value: str | None) -> tuple[str, str]:
    """``(local part, domain)`` of the identifier the user typed, split at the last ``@``.

    The domain must be a fully qualified name, as the phone requires before discovery.
    """
    if not value or len(value) > MAX_IDENTIFIER or any(c.isspace() or ord(c) < 32 for c in value):
        raise AccountDrivenError("user-identifier must be an account such as name@example.org")
    local, at, domain = value.rpartition("@")
    domain = domain.lower().rstrip(".")
    if not (local and at) or not _FQDN.match(domain):
        raise AccountDrivenError("user-identifier must be an account such as name@example.org")
    return local, domain


def discovery_document(base_url: str) -> dict[str, Any]:
    """The JSON the phone reads: exactly one server, of version ``mdm-byod``."""
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise AccountDrivenError("BaseURL must be an http(s) URL")
    return {"Servers": [{"Version": SERVER_VERSION, "BaseURL": base_url}]}


def well_known_failed(message: str, description: str | None = None) -> dict[str, str]:
    """Apple's 403 body refusing discovery; ``message`` may be shown to the user, ``description`` is logged."""
    body = {"code": WELL_KNOWN_FAILED, "message": message}
    if description:
        body["description"] = description
    return body


def base_url_from_discovery(document: Any) -> str:
    """The ``BaseURL`` of the first server of a discovery document (the one the phone uses)."""
    servers = document.get("Servers") if isinstance(document, dict) else None
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        raise AccountDrivenError("discovery document has no Servers")
    server = servers[0]
    if server.get("Version") != SERVER_VERSION:
        raise AccountDrivenError(f"discovery names version {server.get('Version')!r}, not {SERVER_VERSION!r}")
    base_url = server.get("BaseURL")
    if not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https"):
        raise AccountDrivenError("discovery names no http(s) BaseURL")
    return base_url


# The enrollment request ------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentRequest:
    """What the phone says about itself when it asks to enroll (no hardware identifiers).

    ``signature_verified`` is True when the body was CMS-signed and the signature covers the
    content. The chain of the phone's built-in signing identity is unknown, so it is not checked.
    """

    language: str | None
    product: str | None
    version: str | None
    signed: bool
    signature_verified: bool


def request_body(language: str, product: str, version: str) -> bytes:
    """The plist a phone signs and POSTs to the BaseURL."""
    return plist.dumps({"LANGUAGE": language, "PRODUCT": product, "VERSION": version})


def parse_enrollment_request(body: bytes) -> EnrollmentRequest:
    """Read the POSTed body: a plain plist or a CMS SignedData encapsulating one (any content type).

    The signature is checked best-effort: a signature that does not cover the content is refused,
    one we cannot evaluate (unknown algorithm) is read without verification.
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise AccountDrivenError(f"enrollment request larger than {MAX_REQUEST_BYTES} bytes")
    signed = cms.is_cms(body)
    verified = False
    content = body
    if signed:
        try:
            content = cms.verify(body).content
            verified = True
        except cms.SignatureMismatchError as exc:
            raise AccountDrivenError(f"enrollment request signature: {exc}") from None
        except cms.CMSError:
            content = _encapsulated_content(body)
    try:
        values = plist.loads(content)
    except plist.PlistError as exc:
        raise AccountDrivenError(f"enrollment request: {exc}") from None
    fields: dict[str, str | None] = {}
    for key in _REQUEST_KEYS:
        value = values.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 80 or plist.has_unstorable_text(value)):
            raise AccountDrivenError(f"enrollment request: {key} must be a short string without control characters")
        fields[key.lower()] = value
    return EnrollmentRequest(**fields, signed=signed, signature_verified=verified)


def _encapsulated_content(body: bytes) -> bytes:
    try:
        content = asn1_cms.ContentInfo.load(body)["content"]["encap_content_info"]["content"].native
    except Exception as exc:  # asn1crypto raises assorted errors on malformed input
        raise AccountDrivenError(f"enrollment request is not a readable CMS SignedData: {exc.__class__.__name__}") from None
    if not isinstance(content, bytes):
        raise AccountDrivenError("enrollment request's CMS SignedData encapsulates no content")
    return content


# The 401 challenge ------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    method: str
    url: str


def challenge_header(url: str) -> str:
    """``WWW-Authenticate`` value naming the web sign-in page, in Apple's documented comma form.

    Apple drops query parameters from this URL, so it must carry what it needs in its path.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AccountDrivenError("the web sign-in URL must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise AccountDrivenError("the web sign-in URL must not carry a query or fragment (the phone drops them)")
    if any(c in url for c in '"\\') or any(ord(c) < 33 for c in url):
        raise AccountDrivenError("the web sign-in URL must not contain quotes, backslashes, spaces or controls")
    return f'Bearer method="{WEB_AUTH_METHOD}", url="{url}"'


def parse_challenge(header: str | None) -> Challenge:
    """Read a ``WWW-Authenticate: Bearer method="apple-as-web", url="..."`` as a phone does."""
    scheme, _, rest = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AccountDrivenError("WWW-Authenticate is not a Bearer challenge")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _AUTH_PARAM.match(rest, position)
        if match is None:
            raise AccountDrivenError("WWW-Authenticate parameters must be name=\"value\" pairs")
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", match.group(2))
        position = match.end()
    if params.get("method") != WEB_AUTH_METHOD:
        raise AccountDrivenError(f"challenge method {params.get('method')!r} is not {WEB_AUTH_METHOD!r}")
    url = params.get("url", "")
    if urlsplit(url).scheme not in ("http", "https"):
        raise AccountDrivenError("challenge has no http(s) url")
    return Challenge(WEB_AUTH_METHOD, url)


def identifier_maps_to_account(user_identifier: str, managed_apple_id: str, email: str | None = None) -> bool:
    """Does the identifier typed in Settings start the flow of the person with ``managed_apple_id``?

    Apple (step 13, "Validate the enrollment profile"): the server maps the user identifier that starts the
    flow to the assigned Managed Apple Account; for federated accounts the two are the same. A non-federated
    account (``alice@appleid.example.org``) is reached by the person's work address (``alice@example.org``),
    so the person's ``email`` maps too. Both compare case-insensitively; nothing else maps.
    """
    typed = user_identifier.casefold()
    return typed == managed_apple_id.casefold() or (bool(email) and typed == email.casefold())


def web_sign_in_url(challenge_url: str, user_identifier: str) -> str:
    """The page the phone opens: the challenge URL with ``user-identifier`` appended."""
    return f"{challenge_url}?user-identifier={quote(user_identifier, safe='@')}"


# The access token ------------------------------------------------------------------------


def new_access_token() -> str:
    """An opaque, URL-safe random token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_access_token(token: str) -> str:
    """SHA-256 hex of a token: what the server stores instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def access_token_matches(stored_hash: str, token: str | None) -> bool:
    """Whether ``token`` is the one whose hash is stored (constant-time)."""
    return token is not None and hmac.compare_digest(stored_hash, hash_access_token(token))


def callback_url(access_token: str) -> str:
    """The ``Location`` of the final ``308``: it hands the token to the phone."""
    if not access_token or not _TOKEN68.match(access_token) or "&" in access_token:
        raise AccountDrivenError("the access token must be URL-safe")
    return f"{CALLBACK_SCHEME}://{CALLBACK_HOST}?{ACCESS_TOKEN_PARAMETER}={access_token}"


def access_token_from_callback(url: str) -> str:
    """The token of a ``apple-remotemanagement-user-login://authentication-results?access-token=`` URL."""
    parts = urlsplit(url)
    if parts.scheme != CALLBACK_SCHEME or parts.netloc != CALLBACK_HOST:
        raise AccountDrivenError(f"callback must be {CALLBACK_SCHEME}://{CALLBACK_HOST}, not {url[:120]!r}")
    tokens = parse_qs(parts.query).get(ACCESS_TOKEN_PARAMETER)
    if not tokens or not tokens[0]:
        raise AccountDrivenError("callback carries no access-token")
    return tokens[0]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not _TOKEN68.match(token):
        return None
    return token
