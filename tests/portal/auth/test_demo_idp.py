"""The built-in demo IdP: a real OIDC provider for localhost demos only."""
import base64
import re
from urllib.parse import urlencode

import pytest

from portal import create_app
from portal.config import ConfigError
from tests.helpers import csrf_token_from, local_path


def test_refuses_to_serve_on_a_public_url(tmp_path):
    with pytest.raises(ConfigError, match="DEMO_IDP_FORCE"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "k" * 40, "PUBLIC_URL": "https://mdm.example.com"})


def test_serves_on_a_public_url_only_when_forced(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "k" * 40,
                      "PUBLIC_URL": "https://mdm.example.com", "DEMO_IDP_FORCE": "1"})
    assert "demo_idp.authorize" in app.view_functions


def test_is_off_when_an_issuer_is_configured(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "k" * 40, "PUBLIC_URL": "https://mdm.example.com",
                      "OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "portal"})
    assert "demo_idp.authorize" not in app.view_functions


def test_discovery_and_keys(client):
    config = client.get("/demo-idp/.well-known/openid-configuration").get_json()
    assert config["issuer"].endswith("/demo-idp") and config["code_challenge_methods_supported"] == ["S256"]
    assert client.get("/demo-idp/jwks").get_json()["keys"][0]["kty"] == "RSA"
    assert "d" not in client.get("/demo-idp/jwks").get_json()["keys"][0], "never the private key"


def test_authorize_without_pkce_is_refused(client):
    response = client.get("/demo-idp/authorize?response_type=code&client_id=byod-portal-demo&scope=openid"
                          "&redirect_uri=http://evil.example/cb&state=s&nonce=n")
    assert response.status_code == 400


def _authorize_query(app, **changes) -> str:
    params = {"response_type": "code", "client_id": "byod-portal-demo", "scope": "openid email profile",
              "redirect_uri": app.config["PUBLIC_URL"] + "/auth/callback", "state": "s" * 43, "nonce": "n" * 43,
              "code_challenge": "c" * 43, "code_challenge_method": "S256"}
    params.update(changes)
    return "/demo-idp/authorize?" + urlencode(params)


HOSTILE = [
    ("response_type", "token"), ("response_type", "code id_token"), ("response_type", ""), ("response_type", "é"),
    ("response_type", "code\r\nSet-Cookie: x=1"), ("response_type", "\x00"), ("response_type", 'co"de'),
    ("response_type", "code\\"), ("response_type", "c" * 100_000),
    ("redirect_uri", "https://evil.example/auth/callback"), ("redirect_uri", "javascript:alert(1)"),
    ("redirect_uri", "ftp://127.0.0.1/auth/callback"), ("redirect_uri", "//evil.example/cb"),
    ("redirect_uri", "http://127.0.0.1/auth/callback\r\nLocation: https://evil.example/"),
    ("redirect_uri", "http://" + "a" * 100_000 + "/cb"), ("redirect_uri", "http://é.example/cb"),
    ("redirect_uri", "http://127.0.0.1/\x00"), ("redirect_uri", 'http://127.0.0.1/"'),
    ("state", "s\r\nSet-Cookie: x=1"), ("state", "s" * 100_000), ("state", "é"), ("state", "\x00"), ("state", "a\\b"),
    ("nonce", ""), ("nonce", "n\r\nx"), ("nonce", "n" * 100_000), ("nonce", "ü"), ("nonce", "\x7f"),
    ("client_id", "somebody-else"), ("client_id", "é"), ("scope", "openid\r\nemail"),
    ("code_challenge_method", "é"), ("code_challenge", ""),
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("name, value", HOSTILE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(HOSTILE)])
def test_hostile_authorize_parameters_get_a_400_page(app, client, method, name, value):
    if method == "GET":
        response = client.get(_authorize_query(app, **{name: value}))
    else:
        token = csrf_token_from(client.get(_authorize_query(app)).get_data(as_text=True))
        response = client.post(_authorize_query(app, **{name: value}),
                               data={"csrf_token": token, "user": "demo-alice", "action": "sign_in"})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "The sign-in request is not valid" in response.get_data(as_text=True)
    assert "Location" not in response.headers


def test_a_hostile_parameter_name_is_not_echoed(app, client):
    response = client.get(_authorize_query(app) + "&%C3%A9%0D%0A=%00")
    assert response.status_code == 400 and "A parameter is not valid." in response.get_data(as_text=True)


def test_the_well_formed_request_still_signs_in(app, client):
    page = client.get(_authorize_query(app))
    assert page.status_code == 200
    response = client.post(_authorize_query(app), data={"csrf_token": csrf_token_from(page.get_data(as_text=True)),
                                                        "user": "demo-alice", "action": "sign_in"})
    assert response.status_code == 302 and response.location.startswith(app.config["PUBLIC_URL"] + "/auth/callback?code=")


@pytest.mark.parametrize("credentials", [b"\xff\xfe:secret", b"byod-portal-demo:\xe9", b"not base64!"])
def test_unreadable_client_credentials_at_the_token_endpoint_get_a_401(client, credentials):
    value = credentials.decode() if credentials == b"not base64!" else base64.b64encode(credentials).decode()
    response = client.post("/demo-idp/token", data={"grant_type": "authorization_code", "code": "x"},
                           headers={"Authorization": f"Basic {value}"})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_demo_sign_in_page_declares_the_language_it_is_written_in(client):
    """The page is English only, so ``<html lang>`` says so whatever the phone asks for (WCAG 3.1.1): a German
    screen reader otherwise reads the English text with German pronunciation."""
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    start = client.get("/auth/login?next=/enroll/privacy", headers=german)
    page = client.get(local_path(start.location), headers=german).get_data(as_text=True)
    assert "<h1>Sign in (demo)</h1>" in page
    lang = re.search(r'<html lang="([^"]+)">', page).group(1)
    assert lang == "en", f"an English page declared as lang={lang!r}"
