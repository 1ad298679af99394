"""The security headers are on every response: pages, JSON, error answers of every kind, the demo
IdP, static files and the command connection served in front of Flask; HSTS only under https."""
import re
from pathlib import Path

import pytest

from mdm_core import plist
from mdm_core.simulator.device import COMMAND_CONTENT_TYPE
from portal import create_app
from portal.mdm import views as mdm_views
from portal.security_headers import CONTENT_SECURITY_POLICY, HSTS

PORTAL = Path(__file__).resolve().parents[2] / "portal"
EXPECTED = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


def assert_secured(response, hsts: bool = False) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get_all(name) == [value], f"{name} on {response.status_code} {response.request.path}"
    assert response.headers.get("Strict-Transport-Security") == (HSTS if hsts else None)


def boom(*_args, **_kwargs):
    raise RuntimeError("the view fell over")


def test_the_policy_allows_no_inline_script_or_style_and_no_framing():
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'" and "script-src" not in directives and "style-src" not in directives
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert directives["frame-ancestors"] == "'none'"


@pytest.mark.parametrize("path", ["/enroll", "/admin/login", "/static/style.css", "/healthz"])
def test_pages_static_files_and_json_carry_the_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_secured(response)


def test_an_api_answer_carries_the_headers(client, api_token):
    response = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {api_token()}"})
    assert response.status_code == 200 and response.is_json
    assert_secured(response)
    assert_secured(client.get("/api/v1/devices"))  # the 401


@pytest.mark.parametrize("method, path, status", [("GET", "/no-such-page", 404), ("GET", "/api/v1/no-such-thing", 404),
                                                  ("POST", "/healthz", 405), ("DELETE", "/api/v1/devices", 405)])
def test_not_found_and_method_not_allowed_carry_the_headers(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert_secured(response)


@pytest.mark.parametrize("endpoint, path", [("health.healthz", "/healthz"), ("enrollment.landing", "/enroll")])
def test_a_view_that_raises_answers_500_with_the_headers(app, client, monkeypatch, endpoint, path):
    monkeypatch.setitem(app.view_functions, endpoint, boom)
    response = client.get(path)
    assert response.status_code == 500 and "fell over" not in response.text
    assert_secured(response)


def test_the_demo_identity_provider_carries_the_headers(client):
    assert_secured(client.get("/demo-idp/.well-known/openid-configuration"))
    refused = client.get("/demo-idp/authorize")  # no client_id: the IdP's own error page
    assert refused.status_code == 400 and "text/html" in refused.content_type
    assert_secured(refused)


def test_the_sign_in_error_page_carries_the_headers(client):
    response = client.get("/auth/callback?code=x&state=y")  # no sign-in was started here
    assert response.status_code == 400 and "Sign-in did not complete" in response.text
    assert_secured(response)


def test_the_command_connection_carries_the_headers_on_200_403_405_and_500(enroll, device_http, monkeypatch):
    phone = enroll(collect_inventory=False)
    body = plist.dumps(phone.idle_report())
    ok = device_http.put("/mdm/connect", content=body, headers=phone.headers(body, COMMAND_CONTENT_TYPE))
    unsigned = device_http.put("/mdm/connect", content=body, headers={"Content-Type": COMMAND_CONTENT_TYPE})
    wrong_method = device_http.get("/mdm/connect")
    monkeypatch.setattr(mdm_views, "record_report", boom)
    broken = device_http.put("/mdm/connect", content=body, headers=phone.headers(body, COMMAND_CONTENT_TYPE))
    assert [r.status_code for r in (ok, unsigned, wrong_method, broken)] == [200, 403, 405, 500]
    for response in (ok, unsigned, wrong_method, broken):
        for name, value in EXPECTED.items():
            assert response.headers.get_list(name) == [value], f"{name} on {response.status_code}"
        assert "Strict-Transport-Security" not in response.headers
    assert ok.headers["Content-Type"] == "application/xml", "the answer's own headers are kept"


def test_hsts_only_when_the_public_url_is_https(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "k" * 40,
                      "PUBLIC_URL": "https://mdm.example.com", "OIDC_ISSUER": "https://idp.example.com",
                      "OIDC_CLIENT_ID": "portal"})
    client = app.test_client()
    assert_secured(client.get("/static/style.css"), hsts=True)
    assert_secured(client.get("/no-such-page"), hsts=True)
    connect = client.get("/mdm/connect")
    assert connect.status_code == 405
    assert_secured(connect, hsts=True)


def test_templates_and_static_files_hold_nothing_the_policy_would_block():
    """No inline script, event-handler attribute or inline style: the policy would silently break them."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\son[a-z]+\s*=|\sstyle\s*=|javascript:", re.IGNORECASE)
    files = [*PORTAL.joinpath("templates").rglob("*.html"), *PORTAL.joinpath("static").rglob("*")]
    offenders = [f"{path.relative_to(PORTAL)}: {match.group(0)!r}" for path in files if path.is_file()
                 for match in inline.finditer(path.read_text(errors="replace"))]
    assert len(files) > 20 and offenders == []
