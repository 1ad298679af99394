"""OIDC_ISSUER (DESIGN section 3): the organisation's IdP, named by its issuer identifier exactly as it publishes it."""
from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from portal.auth import oidc

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})


@pytest.fixture
def issuer_idp(app):
    """``issuer_idp(suffix)``: a local IdP whose issuer identifier is its URL plus ``suffix`` ("" or "/"), configured
    as OIDC_ISSUER exactly as the provider publishes it; its ID tokens carry the nonce the last authorize named."""
    state = {}

    def wsgi(environ, start_response):
        request = Request(environ)
        issuer = state["issuer"]
        base = issuer.rstrip("/")
        if request.path == "/.well-known/openid-configuration":
            body = {"issuer": issuer, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/jwks"}
        elif request.path == "/jwks":
            body = KeySet([KEY]).as_dict(private=False)
        elif request.path == "/token":
            now = int(time.time())
            claims = {"iss": issuer, "aud": "portal", "sub": "ann-1", "iat": now, "exp": now + 300,
                      "nonce": state["nonce"], "email": "ann@example.org"}
            body = {"access_token": "at", "token_type": "Bearer",
                    "id_token": jwt.encode({"alg": "RS256", "kid": "k1"}, claims, KEY)}
        else:
            body = {}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    saved = {key: app.config.get(key) for key in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")}

    def configure(suffix: str):
        state["issuer"] = f"http://127.0.0.1:{server.server_port}{suffix}"
        app.config.update(OIDC_ISSUER=state["issuer"], OIDC_CLIENT_ID="portal", OIDC_CLIENT_SECRET="secret")
        oidc.forget_provider_cache()
        return state

    yield configure
    app.config.update(saved)
    oidc.forget_provider_cache()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("suffix", ["", "/"], ids=["issuer-without-slash", "issuer-with-trailing-slash"])
def test_sign_in_works_with_the_issuer_exactly_as_the_provider_names_it(client, issuer_idp, suffix):
    """Some providers' issuer identifiers end with "/" (Auth0's ``https://tenant.auth0.com/``); OIDC Core 3.1.3.7
    has the ID token's ``iss`` equal the discovered issuer exactly. The portal accepts such an OIDC_ISSUER and its
    discovery document, and checks the ID token's ``iss`` against the issuer as discovery names it, "/" and all."""
    state = issuer_idp(suffix)
    start = client.get("/auth/login?next=/enroll/privacy")
    assert start.status_code == 302, start.get_data(as_text=True)
    query = parse_qs(urlsplit(start.location).query)
    state["nonce"] = query["nonce"][0]
    callback = client.get(f"/auth/callback?state={query['state'][0]}&code=the-code")
    assert callback.status_code == 302, callback.get_data(as_text=True)[:2000]
    assert callback.location.endswith("/enroll/privacy")
