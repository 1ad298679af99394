"""The OpenID Connect client: discovery, authorization code flow with PKCE, ID token validation, claim mapping.

Provider-independent: the organisation's IdP and the built-in demo IdP go through the same code. Only
the HTTP transport differs for the demo IdP (in-process, so a sync worker never waits on itself).
Every failure is a ``SignInError`` with a stable ``code`` and a message for the person signing in.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from mdm_core import bounded_json

from ..search_text import single_line

DISCOVERY_TTL = 3600
HTTP_TIMEOUT = 10.0
MAX_ANSWER_BYTES = 1024 * 1024  # discovery, keys, tokens and userinfo are a few KB each
CLOCK_LEEWAY = 60
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
MAX_GROUPS = 500
_MANAGED_APPLE_ID = re.compile(r"^[^\s\x00-\x1f\x7f-\x9f@<>\"'()\[\],;:\\]{1,200}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
#: The length of the columns that hold one (``end_users.managed_apple_id``, ``devices.managed_apple_id``).
MAX_MANAGED_APPLE_ID = 320
#: The length of ``end_users.subject``, and OIDC's own limit on ``sub``: a longer one is refused, never cut (two
#: people whose identifiers began alike would become one).
MAX_SUBJECT = 255


def is_managed_apple_id(value: str) -> bool:
    """Whether ``value`` (lower-cased, trimmed) can be a Managed Apple ID: an address without control
    characters that fits the columns storing it."""
    return len(value) <= MAX_MANAGED_APPLE_ID and bool(_MANAGED_APPLE_ID.match(value))


class SignInError(ValueError):
    """Sign-in failed; ``code`` names the cause for logs and tests, the message is for the person."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class ProviderConfig:
    #: OIDC_ISSUER without a trailing "/": the base of the discovery URL, the cache key and the issuer stored with
    #: each person (``end_users.issuer``), alike however the setting is written. The ID token's ``iss`` is checked
    #: against ``ProviderMetadata.issuer`` instead, the issuer exactly as discovery names it.
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    managed_apple_id_claim: str
    groups_claim: str
    in_process: bool  # the built-in demo IdP


@dataclass(frozen=True)
class ProviderMetadata:
    #: The issuer identifier exactly as the discovery document names it (some end with "/", Auth0's do): equal to
    #: OIDC_ISSUER but for a trailing "/", and what an ID token's ``iss`` must be (OIDC Core 3.1.3.7).
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


@dataclass(frozen=True)
class FlowState:
    """What the browser carries between the start of sign-in and the callback (in a signed cookie)."""

    state: str
    nonce: str
    code_verifier: str
    next: str
    issuer: str


@dataclass(frozen=True)
class Identity:
    """The employee as the IdP vouches for them, after claim mapping."""

    issuer: str
    subject: str
    managed_apple_id: str
    email: str | None
    name: str | None
    groups: list[str]


_cache_lock = threading.Lock()
_metadata_cache: dict[str, tuple[float, ProviderMetadata]] = {}
_jwks_cache: dict[str, KeySet] = {}


def provider_config() -> ProviderConfig:
    """The IdP settings, read per request so a test (or a reload) can point the app elsewhere."""
    config = current_app.config
    if config.get("OIDC_ISSUER"):
        return ProviderConfig(config["OIDC_ISSUER"].rstrip("/"), config["OIDC_CLIENT_ID"], config.get("OIDC_CLIENT_SECRET"),
                              config["OIDC_SCOPES"], config["OIDC_MANAGED_APPLE_ID_CLAIM"], config["OIDC_GROUPS_CLAIM"],
                              in_process=False)
    from .demo_idp import DEMO_CLIENT_ID, demo_client_secret, demo_issuer

    return ProviderConfig(demo_issuer(), DEMO_CLIENT_ID, demo_client_secret(), config["OIDC_SCOPES"],
                          config["OIDC_MANAGED_APPLE_ID_CLAIM"], config["OIDC_GROUPS_CLAIM"], in_process=True)


def _http(provider: ProviderConfig, **kwargs: Any) -> dict[str, Any]:
    if provider.in_process:
        kwargs["transport"] = httpx.WSGITransport(app=current_app._get_current_object())
    return {"timeout": HTTP_TIMEOUT, **kwargs}


def _json_answer(http: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, Any]:
    """The IdP's answer and its JSON value: None for an answer past MAX_ANSWER_BYTES (not read further)
    or one that is not JSON we accept (``mdm_core.bounded_json``); the IdP is a server on the network."""
    with http.stream(method, url, **kwargs) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                return response, None
    try:
        return response, bounded_json.loads(bytes(body))
    except ValueError:
        return response, None


def _get_json(provider: ProviderConfig, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        with httpx.Client(**_http(provider)) as http:
            response, data = _json_answer(http, "GET", url, **kwargs)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise SignInError("idp_unavailable", _l("The sign-in service could not be reached. Try again in a few minutes; "
                          "if it keeps failing, tell IT."), 502) from exc
    if not isinstance(data, dict):
        raise SignInError("idp_unavailable", _l("The sign-in service answered with something unexpected. Tell IT."), 502)
    return data


def discover(provider: ProviderConfig) -> ProviderMetadata:
    """The provider's metadata from ``/.well-known/openid-configuration``, cached for an hour."""
    with _cache_lock:
        cached = _metadata_cache.get(provider.issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    data = _get_json(provider, provider.issuer + "/.well-known/openid-configuration")
    issuer = data.get("issuer")
    if not isinstance(issuer, str) or issuer.rstrip("/") != provider.issuer:
        raise SignInError("idp_misconfigured", _l("The sign-in service describes itself as a different issuer. Tell IT."), 502)
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(data.get(key), str):
            raise SignInError("idp_misconfigured", _l("The sign-in service's configuration lacks %(key)s. Tell IT.", key=key), 502)
    userinfo = data.get("userinfo_endpoint")
    metadata = ProviderMetadata(issuer, data["authorization_endpoint"], data["token_endpoint"], data["jwks_uri"],
                                userinfo if isinstance(userinfo, str) else None)
    with _cache_lock:
        _metadata_cache[provider.issuer] = (time.monotonic() + DISCOVERY_TTL, metadata)
    return metadata


def forget_provider_cache() -> None:
    """Drop cached discovery documents and keys (tests that restart or swap providers)."""
    with _cache_lock:
        _metadata_cache.clear()
        _jwks_cache.clear()


def _signing_keys(provider: ProviderConfig, metadata: ProviderMetadata, refresh: bool = False) -> KeySet:
    with _cache_lock:
        keys = None if refresh else _jwks_cache.get(metadata.jwks_uri)
    if keys is None:
        try:
            keys = KeySet.import_key_set(_get_json(provider, metadata.jwks_uri))
        except (JoseError, ValueError, TypeError, KeyError) as exc:  # a key set without "keys" is a KeyError
            raise SignInError("idp_misconfigured", _l("The sign-in service published unusable signing keys. Tell IT."), 502) from exc
        with _cache_lock:
            _jwks_cache[metadata.jwks_uri] = keys
    return keys


def redirect_uri() -> str:
    return current_app.config["PUBLIC_URL"] + url_for("auth.callback")


def start(next_path: str, login_hint: str | None = None) -> tuple[str, FlowState]:
    """The IdP URL to send the browser to, and the state the callback will need."""
    provider = provider_config()
    metadata = discover(provider)
    flow = FlowState(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                     code_verifier=secrets.token_urlsafe(48), next=next_path, issuer=provider.issuer)
    params = [("response_type", "code"), ("client_id", provider.client_id), ("redirect_uri", redirect_uri()),
              ("scope", provider.scopes), ("state", flow.state), ("nonce", flow.nonce),
              ("code_challenge", create_s256_code_challenge(flow.code_verifier)), ("code_challenge_method", "S256")]
    if login_hint:
        params.append(("login_hint", login_hint))
    return add_params_to_uri(metadata.authorization_endpoint, params), flow


def _exchange_code(provider: ProviderConfig, metadata: ProviderMetadata, code: str, code_verifier: str) -> dict[str, Any]:
    """The token response for ``code`` (client_secret_basic, or a public client with PKCE only)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(), "code_verifier": code_verifier}
    auth = (provider.client_id, provider.client_secret) if provider.client_secret else None
    if auth is None:
        form["client_id"] = provider.client_id
    try:
        with httpx.Client(**_http(provider)) as http:
            response, token = _json_answer(http, "POST", metadata.token_endpoint, data=form, auth=auth,
                                           headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise SignInError("idp_unavailable", _l("The sign-in service could not be reached. Try again in a few minutes."), 502) from exc
    if response.status_code >= 500:
        raise SignInError("idp_unavailable", _l("The sign-in service had a problem. Try again in a few minutes."), 502)
    if response.status_code != 200 or not isinstance(token, dict):
        raise SignInError("token_rejected", _l("The sign-in service did not accept the sign-in (it may have expired). "
                          "Start again."))
    return token


def validate_id_token(id_token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str,
                      now: int | None = None) -> dict[str, Any]:
    """Check the ID token's signature, issuer, audience, expiry and nonce; return its claims."""
    try:
        token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(now=now, leeway=CLOCK_LEEWAY, iss={"essential": True, "value": issuer},
                                         aud={"essential": True, "value": client_id}, exp={"essential": True},
                                         sub={"essential": True}, nonce={"essential": True, "value": nonce})
        registry.validate(claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise SignInError("invalid_id_token", _l("The sign-in could not be verified (the identity token was invalid or "
                          "expired). Try again; if it keeps failing, tell IT.")) from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SignInError("invalid_id_token", _l("The sign-in could not be verified (the identity token was issued to "
                          "another application)."))
    return claims


def finish(flow: FlowState, args: dict[str, str]) -> Identity:
    """Complete the callback: check ``state``, exchange the code, validate the ID token, map the claims."""
    if args.get("error"):
        if args["error"] == "access_denied":
            raise SignInError("cancelled", _l("Sign-in was cancelled. You can start again whenever you are ready."))
        raise SignInError("idp_error", _l("The sign-in service refused the request. Try again; if it keeps failing, tell IT."))
    if not args.get("state") or not secrets.compare_digest(args["state"].encode(), flow.state.encode()):
        raise SignInError("bad_state", _l("This sign-in link is stale or was not started here. Start again from the "
                          "enrollment page."))
    if not args.get("code"):
        raise SignInError("missing_code", _l("The sign-in service did not complete the sign-in. Start again."))
    provider = provider_config()
    if provider.issuer != flow.issuer:
        raise SignInError("bad_state", _l("The sign-in service changed while you were signing in. Start again."))
    metadata = discover(provider)
    token = _exchange_code(provider, metadata, args["code"], flow.code_verifier)
    if not isinstance(token.get("id_token"), str):
        raise SignInError("invalid_id_token", _l("The sign-in service sent no identity token. Tell IT."), 502)
    try:
        claims = validate_id_token(token["id_token"], _signing_keys(provider, metadata), issuer=metadata.issuer,
                                   client_id=provider.client_id, nonce=flow.nonce)
    except SignInError:
        # A key rotation shows up as an unknown kid: fetch the keys once more before giving up.
        claims = validate_id_token(token["id_token"], _signing_keys(provider, metadata, refresh=True),
                                   issuer=metadata.issuer, client_id=provider.client_id, nonce=flow.nonce)
    if metadata.userinfo_endpoint and token.get("access_token"):
        userinfo = _get_json(provider, metadata.userinfo_endpoint,
                             headers={"Authorization": f"Bearer {token['access_token']}"})
        if userinfo.get("sub") == claims["sub"]:
            claims = {**userinfo, **claims}
    return map_claims(claims, provider)


def map_claims(claims: dict[str, Any], provider: ProviderConfig) -> Identity:
    """The Identity from verified claims, per OIDC_MANAGED_APPLE_ID_CLAIM and OIDC_GROUPS_CLAIM; a ``sub`` that
    cannot be stored as it is is refused, since the person is found by it."""
    subject = claims.get("sub")
    if isinstance(subject, int) and not isinstance(subject, bool):  # OIDC says a string; some IdPs send a number
        subject = str(subject)
    if not _claim_text(subject) or len(subject) > MAX_SUBJECT:
        raise SignInError("invalid_id_token", _l("The sign-in service answered with something unexpected. Tell IT."))
    managed_apple_id = claims.get(provider.managed_apple_id_claim)
    if not isinstance(managed_apple_id, str) or not managed_apple_id.strip():
        raise SignInError("missing_claim", _l("Your account has no Managed Apple ID (the identity provider sent no "
                             "'%(claim)s' claim). Ask IT to fix your account.", claim=provider.managed_apple_id_claim))
    managed_apple_id = managed_apple_id.strip().lower()
    if not is_managed_apple_id(managed_apple_id):
        raise SignInError("invalid_claim", _l("Your account's Managed Apple ID is not a valid address. Ask IT to fix your account."))
    raw_groups = claims.get(provider.groups_claim) or []
    if isinstance(raw_groups, str):
        raw_groups = [raw_groups]
    groups = [g for g in raw_groups if _claim_text(g) and len(g) <= 255][:MAX_GROUPS] if isinstance(raw_groups, list) else []
    email, name = claims.get("email"), claims.get("name")
    return Identity(issuer=provider.issuer, subject=subject, managed_apple_id=managed_apple_id,
                    email=email[:320] if _claim_text(email) else None, name=name[:255] if _claim_text(name) else None,
                    groups=groups)


def _claim_text(value: Any) -> bool:
    """Whether a claim (the person may edit their name in the IdP) is text to store and show: a non-empty
    string without control characters, NUL (PostgreSQL refuses it) or lone surrogates; others are dropped."""
    return isinstance(value, str) and bool(value) and single_line(value)
