import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Admin, ApiToken, AuditEvent
from tests.helpers import csrf_token_from


def test_request_without_token_is_refused_with_json_401(client):
    response = client.get("/api/v1/devices")
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized", "detail": "missing bearer token"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_request_with_wrong_token_is_refused_with_json_401(client, api_token):
    api_token()
    response = client.get("/api/v1/devices", headers={"Authorization": "Bearer bmdm_not-the-token"})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "invalid or revoked token"


def test_token_is_stored_only_as_a_hash(app, runner):
    result = runner.invoke(args=["create-api-token", "automation"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("bmdm_") and len(token) > 40
    with app.app_context():
        rows = db.session.scalars(select(ApiToken)).all()
        assert len(rows) == 1
        stored = {c.name: getattr(rows[0], c.name) for c in ApiToken.__table__.columns}
    assert all(token not in str(value) for value in stored.values())
    assert stored["token_hash"] != token and len(stored["token_hash"]) == 64


def test_unknown_api_path_answers_json_404(client, api_token):
    token = api_token()
    response = client.get("/api/v1/no-such-thing", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_create_admin_cli_creates_and_resets(runner, app):
    assert runner.invoke(args=["create-admin", "ops@example.org", "--password", "short"]).exit_code != 0
    result = runner.invoke(args=["create-admin", "ops@example.org", "--password", "a long enough password"])
    assert result.exit_code == 0 and "ops@example.org" in result.output
    result = runner.invoke(args=["create-admin", "OPS@example.org", "--password", "another long password"])
    assert result.exit_code == 0
    with app.app_context():
        admins = db.session.scalars(select(Admin)).all()
        assert len(admins) == 1 and admins[0].check_password("another long password")


@pytest.mark.parametrize("args", [
    ["create-api-token", "n" * 121],  # the name column holds 120 (PostgreSQL refused it with a traceback)
    ["create-api-token", " "],
    ["create-admin", "a" * 330 + "@example.org", "--password", "correct horse battery"],  # the column holds 320
    ["create-admin", "ops@", "--password", "correct horse battery"],  # no alert could be mailed to it
], ids=["long-token-name", "blank-token-name", "long-email", "unwritable-email"])
def test_the_cli_refuses_what_it_cannot_store_or_mail_saying_why(runner, app, args):
    result = runner.invoke(args=args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    assert "Invalid value" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Admin)) == 0
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_create_admin_prompts_for_the_password_when_none_is_given(runner, app):
    result = runner.invoke(args=["create-admin", "ask@example.org"], input="a prompted password\n" * 2)
    assert result.exit_code == 0 and "Password" in result.output and "a prompted password" not in result.output
    with app.app_context():
        assert db.session.scalar(select(Admin).where(Admin.email == "ask@example.org")).check_password(
            "a prompted password")


def test_create_api_token_with_scopes_makes_a_token_limited_to_them(runner, client):
    directory = runner.invoke(args=["create-api-token", "directory", "--scope", "scim"]).output.strip()
    reader = runner.invoke(args=["create-api-token", "reader", "--scope", "read", "--scope", "audit"]).output.strip()
    assert client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {directory}"}).status_code == 200
    assert (_devices(client, directory), _devices(client, reader)) == (403, 200)
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    assert client.get("/api/v1/groups", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    assert client.post("/api/v1/mail/test", json={"to": "a@example.org"},
                       headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    assert runner.invoke(args=["create-api-token", "x", "--scope", "everything"]).exit_code != 0


def test_create_api_token_refuses_scim_beside_other_scopes_as_a_usage_error(app, runner):
    """``create-api-token NAME --scope S ...`` (DESIGN section 5): a combination the token cannot hold is refused
    with click's usage error (exit 2, "Invalid value"), as a bad name is, not with a ValueError traceback."""
    result = runner.invoke(args=["create-api-token", "mixed", "--scope", "scim", "--scope", "read"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Invalid value" in result.output and "scim" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_demo_setup_prints_credentials_only_the_first_time(runner):
    first = runner.invoke(args=["demo-setup"])
    assert first.exit_code == 0 and "password:" in first.output
    second = runner.invoke(args=["demo-setup"])
    assert second.exit_code == 0 and "password:" not in second.output


def _devices(client, token):
    return client.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"}).status_code


def test_list_api_tokens_shows_each_token_never_its_secret(app, runner, client, api_token):
    reader = api_token("reader", scopes=("read",))
    api_token("automation")
    assert _devices(client, reader) == 200
    result = runner.invoke(args=["list-api-tokens"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCOPES", "CREATED", "LAST", "USED", "STATUS"]
    reader_line = next(line for line in lines if " reader " in line)
    assert " read " in reader_line and reader_line.endswith("active") and reader_line.count("UTC") == 2
    assert any(" automation " in line and "commands" in line for line in lines)
    with app.app_context():
        hashes = db.session.scalars(select(ApiToken.token_hash)).all()
    assert "bmdm_" not in result.output and not any(h in result.output for h in hashes)


def test_revoke_api_token_by_name_or_id_refuses_the_token_at_once(app, runner, client, api_token):
    first, second = api_token("ci"), api_token("ci")
    assert _devices(client, first) == _devices(client, second) == 200
    ambiguous = runner.invoke(args=["revoke-api-token", "ci"])
    assert ambiguous.exit_code != 0 and "2 active tokens are named 'ci'" in ambiguous.output
    assert runner.invoke(args=["revoke-api-token", "nothing"]).exit_code != 0
    with app.app_context():
        first_id = db.session.scalar(select(ApiToken.id).order_by(ApiToken.id))
    result = runner.invoke(args=["revoke-api-token", str(first_id)])
    assert result.exit_code == 0 and f"Revoked API token {first_id} (ci)" in result.output
    assert (_devices(client, first), _devices(client, second)) == (401, 200)
    assert runner.invoke(args=["revoke-api-token", "ci"]).exit_code == 0, "one active 'ci' left: by name"
    assert _devices(client, second) == 401
    assert "revoked" in runner.invoke(args=["list-api-tokens"]).output
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "api_token.revoked")).all()
    assert [(e.actor_type, e.actor, e.detail["name"]) for e in events] == [("system", "cli", "ci")] * 2


def test_admin_page_lists_tokens_and_revokes_one_with_csrf(app, admin_client, api_token):
    token = api_token("monitoring", scopes=("read", "audit"))
    page = admin_client.get("/admin/api-tokens")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "monitoring" in html and "read, audit" in html and "never" in html
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
    assert token not in html and row.token_hash not in html
    assert page.headers["Cache-Control"] == "no-store"
    assert admin_client.post(f"/admin/api-tokens/{row.id}/revoke").status_code == 400, "CSRF token required"
    assert _devices(admin_client, token) == 200
    response = admin_client.post(f"/admin/api-tokens/{row.id}/revoke", data={"csrf_token": csrf_token_from(html)})
    assert response.status_code == 303
    assert _devices(admin_client, token) == 401
    assert "revoked" in admin_client.get("/admin/api-tokens").get_data(as_text=True)
    assert admin_client.post("/admin/api-tokens/999/revoke", data={"csrf_token": csrf_token_from(html)}).status_code == 404
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "api_token.revoked"))
    assert (event.actor_type, event.actor, event.target_id) == ("admin", "admin@example.org", str(row.id))


def test_api_tokens_page_needs_an_admin(app, client, api_token):
    token = api_token("kept")
    assert client.get("/admin/api-tokens").location.startswith("/admin/login")
    csrf = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    assert client.post("/admin/api-tokens/1/revoke", data={"csrf_token": csrf}).location.startswith("/admin/login")
    assert _devices(client, token) == 200


def test_every_api_route_refuses_in_the_error_shape(app, client, api_token):
    """DESIGN section 6: errors are ``{"error", "detail"}`` with the right status, on every route of the API."""
    scim_only = api_token("directory", ("scim",))
    full = api_token("all")
    public = {"/api/v1/openapi.json", "/api/v1/pki/user-identity-ca"}  # documents anyone may fetch
    checked = 0
    for number, rule in enumerate(r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")):
        path = re.sub(r"<[^>]+>", "999999", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            address = {"REMOTE_ADDR": f"10.9.{number}.{len(method)}"}  # refused tokens are rate limited per client
            answers = [(401, None), (403, scim_only)] if path not in public else []
            answers += [(404, full)] if "999999" in path else []
            for status, token in answers:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = client.open(path, method=method, headers=headers, json={}, environ_overrides=address)
                body = response.get_json()
                assert (response.status_code, sorted(body)) == (status, ["detail", "error"]), (method, path, body)
                assert isinstance(body["error"], str) and body["error"]
                checked += 1
    assert checked > 60
