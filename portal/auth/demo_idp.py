"""A small, real OpenID Connect provider for the local demo (``make run`` without ``OIDC_ISSUER``).

Built on authlib's server side (authorization code + PKCE + OpenID Connect), with a few demo users,
so the demo signs in through the same OIDC client code as production. Stateless, so it works across
gunicorn workers: authorization codes and access tokens are short-lived signed blobs, and the signing
key is created once in the instance folder. It serves only on a localhost PUBLIC_URL unless forced.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc.jwk import RSAKey

from ..config import LOCAL_HOSTS, ConfigError
from ..extensions import csrf

DEMO_CLIENT_ID = "byod-portal-demo"
CODE_SECONDS = 120
ACCESS_TOKEN_SECONDS = 600
KEY_ID = "demo-idp-1"
SCOPES = ("openid", "email", "profile")
# authlib echoes parameters into its error text and fails (a 500) on characters that text may not hold; no
# client sends them (nor values this long), so a request carrying any is refused before authlib sees it.
MAX_PARAMETER_LENGTH = 2048
_PARAMETER_TEXT = re.compile(r'[\x20\x21\x23-\x5b\x5d-\x7e]*')

bp = Blueprint("demo_idp", __name__, url_prefix="/demo-idp")


@dataclass(frozen=True)
class DemoUser:
    sub: str
    email: str
    name: str
    groups: tuple[str, ...]


DEMO_USERS = (
    DemoUser("demo-alice", "alice@example.org", "Alice Example", ("staff",)),
    DemoUser("demo-bob", "bob@example.org", "Bob Contractor", ("contractors",)),
    DemoUser("demo-carol", "carol@example.org", "Carol IT", ("staff", "it")),
)
_USERS = {user.sub: user for user in DEMO_USERS}


def demo_issuer() -> str:
    return current_app.config["PUBLIC_URL"] + "/demo-idp"


def demo_client_secret() -> str:
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"demo-idp-client-secret", hashlib.sha256).hexdigest()


def _signer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _signing_key() -> RSAKey:
    """The RSA key that signs ID tokens, created once (mode 0600) in the instance folder."""
    path = Path(current_app.instance_path) / "demo_idp_key.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        except FileExistsError:
            pass  # another worker won the race; use its key
    return RSAKey.import_key(path.read_bytes(), {"kid": KEY_ID, "use": "sig", "alg": "RS256"})


class DemoClient:
    """The portal itself, the only client of the demo IdP."""

    client_id = DEMO_CLIENT_ID

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return current_app.config["PUBLIC_URL"] + "/auth/callback"

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.get_default_redirect_uri()

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest((client_secret or "").encode(), demo_client_secret().encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class SignedCode:
    """An authorization code decoded from its signed form."""

    def __init__(self, data: dict):
        self.data = data
        self.code_challenge = data.get("code_challenge")
        self.code_challenge_method = data.get("code_challenge_method")

    def get_redirect_uri(self) -> str:
        return self.data["redirect_uri"]

    def get_scope(self) -> str:
        return self.data["scope"]

    def get_nonce(self) -> str | None:
        return self.data.get("nonce")

    def get_auth_time(self) -> int:
        return self.data["auth_time"]

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class DemoCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def generate_authorization_code(self) -> str:
        payload = self.request.payload
        return _signer("demo-idp-code").dumps({
            "client_id": payload.client_id, "redirect_uri": payload.redirect_uri, "scope": payload.scope,
            "nonce": payload.data.get("nonce"), "sub": self.request.user.sub, "auth_time": int(time.time()),
            "code_challenge": payload.data.get("code_challenge"),
            "code_challenge_method": payload.data.get("code_challenge_method"),
        })

    def save_authorization_code(self, code: str, request) -> None:
        """The code carries its own data (see generate_authorization_code)."""

    def query_authorization_code(self, code: str, client) -> SignedCode | None:
        try:
            data = _signer("demo-idp-code").loads(code, max_age=CODE_SECONDS)
        except BadSignature:
            return None
        return SignedCode(data) if data.get("client_id") == client.get_client_id() else None

    def delete_authorization_code(self, authorization_code) -> None:
        """Stateless codes expire after CODE_SECONDS instead (a demo trade-off)."""

    def authenticate_user(self, authorization_code: SignedCode) -> DemoUser | None:
        return _USERS.get(authorization_code.data["sub"])


def _user_info(user: DemoUser, scope: str) -> UserInfo:
    info = UserInfo(sub=user.sub)
    if "email" in scope:
        info.update(email=user.email, email_verified=True)
    if "profile" in scope:
        info.update(name=user.name, groups=list(user.groups))
    return info


class DemoOpenIDCode(OpenIDCode):
    def resolve_client_private_key(self, client):
        return _signing_key()

    def get_client_algorithm(self, client) -> str:
        return "RS256"

    def get_client_claims(self, client) -> dict:
        return {"iss": demo_issuer(), "aud": [client.get_client_id()], "exp": int(time.time()) + 600}

    def get_encode_header(self, client) -> dict:
        return {"alg": "RS256", "kid": KEY_ID}

    def exists_nonce(self, nonce: str, request) -> bool:
        return False

    def generate_user_info(self, user: DemoUser, scope: str) -> UserInfo:
        return _user_info(user, scope)


def _access_token(client, grant_type, user: DemoUser, scope) -> str:
    return _signer("demo-idp-access").dumps({"sub": user.sub, "scope": scope})


def _server() -> AuthorizationServer:
    return current_app.extensions["demo_idp"]


def register_demo_idp(app: Flask) -> None:
    """Serve the demo IdP when no OIDC_ISSUER is set; refuse on a public URL unless DEMO_IDP_FORCE."""
    if app.config.get("OIDC_ISSUER"):
        return
    host = urlsplit(app.config["PUBLIC_URL"]).hostname
    if host not in LOCAL_HOSTS and not app.config.get("DEMO_IDP_FORCE"):
        raise ConfigError(
            f"Invalid configuration:\n  - OIDC_ISSUER is unset, so the demo identity provider (anyone can sign in as a "
            f"demo user) would serve on PUBLIC_URL={app.config['PUBLIC_URL']!r}, which is not localhost. Set OIDC_ISSUER, "
            f"OIDC_CLIENT_ID and OIDC_CLIENT_SECRET to your organisation's IdP, or DEMO_IDP_FORCE=1 to run the demo anyway.")
    server = AuthorizationServer(app, query_client=lambda cid: DemoClient() if cid == DEMO_CLIENT_ID else None,
                                 save_token=lambda token, req: None)
    server.register_token_generator("default", BearerTokenGenerator(_access_token))
    server.register_grant(DemoCodeGrant, [DemoOpenIDCode(require_nonce=True), CodeChallenge(required=True)])
    app.extensions["demo_idp"] = server
    app.register_blueprint(bp)
    csrf.exempt(token)
    csrf.exempt(userinfo)


@bp.get("/.well-known/openid-configuration")
def configuration():
    issuer = demo_issuer()
    return jsonify({
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "userinfo_endpoint": issuer + "/userinfo",
        "jwks_uri": issuer + "/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SCOPES),
        "token_endpoint_auth_methods_supported": DemoCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "email", "email_verified", "name", "groups"],
    })


@bp.get("/jwks")
def jwks():
    return jsonify({"keys": [_signing_key().as_dict(private=False)]})


def _malformed_parameter() -> OAuth2Error | None:
    """An error naming the first parameter that is too long or holds control, non-ASCII, '"' or '\\' characters."""
    for name, value in request.values.items(multi=True):
        if len(value) > MAX_PARAMETER_LENGTH or not _PARAMETER_TEXT.fullmatch(value):
            readable = len(name) <= 40 and _PARAMETER_TEXT.fullmatch(name)
            return InvalidRequestError(f"The {name} parameter is not valid." if readable else "A parameter is not valid.")
    return None


def _unreadable_basic_credentials() -> bool:
    """Basic client credentials that are not base64 of UTF-8 (authlib would fail on them)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return True
    return False


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    server = _server()
    malformed = _malformed_parameter()
    if malformed is not None:
        return render_template("demo_idp/error.html", error=malformed), 400
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return render_template("demo_idp/error.html", error=error), 400
    if request.method == "GET":
        return render_template("demo_idp/login.html", users=DEMO_USERS, grant=grant)
    user = _USERS.get(request.form.get("user", ""))
    if request.form.get("action") == "cancel":
        user = None
    elif user is None:
        return render_template("demo_idp/login.html", users=DEMO_USERS, grant=grant, unknown=True), 400
    return server.create_authorization_response(grant_user=user, grant=grant)


@bp.post("/token")
def token():
    if _unreadable_basic_credentials():
        error = InvalidClientError(description="The client credentials are not readable.", status_code=401)
        return jsonify(dict(error.get_body())), error.status_code, error.get_headers()
    return _server().create_token_response()


@bp.get("/userinfo")
def userinfo():
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    try:
        data = _signer("demo-idp-access").loads(value.strip(), max_age=ACCESS_TOKEN_SECONDS)
    except BadSignature:
        data = None
    user = _USERS.get(data.get("sub", "")) if scheme.lower() == "bearer" and isinstance(data, dict) else None
    if user is None:
        response = jsonify({"error": "invalid_token"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return jsonify(_user_info(user, data.get("scope", "")))
