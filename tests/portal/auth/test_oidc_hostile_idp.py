"""An identity provider is a server on the network: whatever its answers hold (nested past the recursion
limit, wrongly typed, oversized), sign-in fails with a clear 502 page or a SignInError, never a 500."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from portal.auth import oidc
from portal.extensions import db
from portal.models import EndUser
from tests.helpers import IOS17, demo_sign_in

NESTED = b"[" * 100_000
OVERSIZED = b" " * (oidc.MAX_ANSWER_BYTES + 1) + b"{}"


@pytest.fixture
def idp():
    """A local IdP whose answers the test sets: ``idp.answers[path] = body`` (JSON bytes); ``idp.url``."""
    answers: dict[str, bytes] = {}

    def wsgi(environ, start_response):
        body = answers.get(environ["PATH_INFO"], b"{}")
        return Response(body, mimetype="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    issuer = f"http://127.0.0.1:{server.server_port}"
    answers["/.well-known/openid-configuration"] = (
        b'{"issuer": "%s", "authorization_endpoint": "%s/authorize", "token_endpoint": "%s/token", '
        b'"jwks_uri": "%s/jwks"}' % ((issuer.encode(),) * 4))
    yield type("Idp", (), {"answers": answers, "url": issuer})
    oidc.forget_provider_cache()
    server.shutdown()
    server.server_close()


@pytest.fixture
def provider(idp):
    return oidc.ProviderConfig(idp.url, "portal", "secret", "openid email", "email", "groups", in_process=False)


@pytest.fixture
def organisation_idp(app, idp):
    saved = {key: app.config.get(key) for key in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")}
    app.config.update(OIDC_ISSUER=idp.url, OIDC_CLIENT_ID="portal", OIDC_CLIENT_SECRET="secret")
    oidc.forget_provider_cache()
    yield idp
    app.config.update(saved)


@pytest.mark.parametrize("body", [NESTED, OVERSIZED, b'{"issuer": 5}', b'"a string"', b"\xff\xfe{}"],
                         ids=["nested", "oversized", "issuer-not-a-string", "not-an-object", "not-utf-8"])
def test_a_hostile_discovery_document_gets_a_502_page(client, organisation_idp, caplog, body):
    organisation_idp.answers["/.well-known/openid-configuration"] = body
    response = client.get("/auth/login?next=/enroll/privacy")
    assert response.status_code == 502, response.data
    assert "sign-in service" in response.get_data(as_text=True)
    assert not [r for r in caplog.records if r.exc_info]


def test_endpoints_that_are_not_strings_are_a_misconfiguration(app, idp, provider):
    idp.answers["/.well-known/openid-configuration"] = (
        b'{"issuer": "%s", "authorization_endpoint": ["x"], "token_endpoint": "t", "jwks_uri": "j"}' % idp.url.encode())
    with app.app_context(), pytest.raises(oidc.SignInError) as refused:
        oidc.discover(provider)
    assert refused.value.code == "idp_misconfigured" and "authorization_endpoint" in str(refused.value)


@pytest.mark.parametrize("body", [NESTED, b"{}", b'{"keys": 5}', OVERSIZED], ids=["nested", "no-keys", "keys-not-a-list",
                                                                                   "oversized"])
def test_hostile_signing_keys_are_a_sign_in_error(app, idp, provider, body):
    idp.answers["/jwks"] = body
    with app.test_request_context():
        with pytest.raises(oidc.SignInError) as refused:
            oidc._signing_keys(provider, oidc.discover(provider))
    assert refused.value.status == 502


@pytest.mark.parametrize("body", [NESTED, OVERSIZED, b"[1]"], ids=["nested", "oversized", "not-an-object"])
def test_a_hostile_token_answer_is_refused(app, idp, provider, body):
    idp.answers["/token"] = body
    with app.test_request_context():
        with pytest.raises(oidc.SignInError) as refused:
            oidc._exchange_code(provider, oidc.discover(provider), "code", "verifier")
    assert refused.value.code == "token_rejected"


@pytest.mark.parametrize("subject", ["demo\ud800alice", "demo\x00alice", "x" * 256],
                         ids=["lone-surrogate", "nul", "longer-than-its-column"])
def test_a_subject_no_database_can_store_gets_the_sign_in_error_page_and_stores_nobody(
        app, client, monkeypatch, subject):
    """The callback answered 500: a lone surrogate on every database, a NUL on PostgreSQL; a long one was cut."""
    verified = oidc.validate_id_token

    def with_hostile_subject(id_token, keys, **kwargs):  # the demo IdP's real, verified token, its sub replaced
        return {**verified(id_token, keys, **kwargs), "sub": subject}

    monkeypatch.setattr(oidc, "validate_id_token", with_hostile_subject)
    client.environ_base["HTTP_USER_AGENT"] = IOS17
    response = demo_sign_in(client, next_path="/me/")
    assert response.status_code == 400 and "sign-in service" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(EndUser).count() == 0
