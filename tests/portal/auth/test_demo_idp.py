"""The built-in demo IdP: a real OIDC provider for localhost demos only."""
import pytest

from portal import create_app
from portal.config import ConfigError


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
