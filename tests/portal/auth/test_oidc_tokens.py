"""ID token validation and claim mapping in the OIDC client."""
from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from portal.auth.oidc import ProviderConfig, SignInError, map_claims, validate_id_token

ISSUER, CLIENT = "https://idp.example.org", "portal"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
KEYS = KeySet([KEY])
PROVIDER = ProviderConfig(ISSUER, CLIENT, "secret", "openid email", "email", "groups", in_process=False)


def token(key=KEY, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "u1", "iat": now, "exp": now + 300, "nonce": "n1", **overrides}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def test_valid_token_yields_its_claims():
    assert validate_id_token(token(), KEYS, issuer=ISSUER, client_id=CLIENT, nonce="n1")["sub"] == "u1"


@pytest.mark.parametrize("bad", [
    {"key": OTHER_KEY},
    {"iss": "https://evil.example"},
    {"aud": "someone-else"},
    {"exp": int(time.time()) - 3600},
    {"nonce": "replayed"},
    {"nonce": None},
    {"aud": [CLIENT, "other"]},
])
def test_forged_expired_or_misdirected_tokens_are_refused(bad):
    with pytest.raises(SignInError) as excinfo:
        validate_id_token(token(**bad), KEYS, issuer=ISSUER, client_id=CLIENT, nonce="n1")
    assert excinfo.value.code == "invalid_id_token"


def test_unsigned_token_is_refused():
    forged = jwt.encode({"alg": "HS256"}, {"iss": ISSUER, "aud": CLIENT, "sub": "u1", "exp": 2**31, "nonce": "n1"},
                        KeySet.generate_key_set("oct", 256).keys[0])
    with pytest.raises(SignInError):
        validate_id_token(forged, KEYS, issuer=ISSUER, client_id=CLIENT, nonce="n1")


def test_claims_map_to_an_identity():
    identity = map_claims({"sub": "u1", "email": " Ann@Example.ORG ", "groups": ["staff", 7, ""], "name": "<b>Ann</b>"},
                          PROVIDER)
    assert (identity.managed_apple_id, identity.groups, identity.name) == ("ann@example.org", ["staff"], "<b>Ann</b>")


def test_claims_no_database_can_store_or_a_page_should_show_are_dropped():
    """A NUL is a PostgreSQL error (the sign-in would be a 500); control characters have no place in a name."""
    identity = map_claims({"sub": "u1", "email": "ann@example.org", "name": "Ann\x00", "groups": ["staff", "ops\x1b", "x\ud800"]},
                          PROVIDER)
    assert (identity.name, identity.email, identity.groups) == (None, "ann@example.org", ["staff"])
    assert map_claims({"sub": "u1", "email": "ann@example.org", "name": "Zoë Ann"}, PROVIDER).name == "Zoë Ann"


@pytest.mark.parametrize("subject", ["", True, ["u1"], "u\x00", "u\ud800", "u\x1b", "u" * 256],
                         ids=["empty", "boolean", "list", "nul", "lone-surrogate", "control", "longer-than-its-column"])
def test_a_subject_that_cannot_be_stored_as_it_is_is_refused(subject):
    """It was stored as ``str(sub)[:255]``: a NUL or a lone surrogate made the callback a 500, and a long one
    was cut, so two people whose identifiers began alike would have become one."""
    with pytest.raises(SignInError) as excinfo:
        map_claims({"sub": subject, "email": "ann@example.org"}, PROVIDER)
    assert excinfo.value.code == "invalid_id_token"
    assert map_claims({"sub": "u" * 255, "email": "ann@example.org"}, PROVIDER).subject == "u" * 255
    assert map_claims({"sub": 42, "email": "ann@example.org"}, PROVIDER).subject == "42", "as it was stored before"


@pytest.mark.parametrize("claims, code", [
    ({"sub": "u1"}, "missing_claim"),
    ({"sub": "u1", "email": ["a@b.org"]}, "missing_claim"),
    ({"sub": "u1", "email": "<script>@example.org"}, "invalid_claim"),
    ({"sub": "u1", "email": "not-an-address"}, "invalid_claim"),
    ({"sub": "u1", "email": "bell\x07@example.org"}, "invalid_claim"),
    ({"sub": "u1", "email": "a" * 200 + "@" + "b" * 200 + ".org"}, "invalid_claim"),  # longer than its column
])
def test_missing_or_hostile_managed_apple_id_is_refused(claims, code):
    with pytest.raises(SignInError) as excinfo:
        map_claims(claims, PROVIDER)
    assert excinfo.value.code == code
