from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiToken


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
    from portal.models import Admin
    with app.app_context():
        admins = db.session.scalars(select(Admin)).all()
        assert len(admins) == 1 and admins[0].check_password("another long password")


def test_demo_setup_prints_credentials_only_the_first_time(runner):
    first = runner.invoke(args=["demo-setup"])
    assert first.exit_code == 0 and "password:" in first.output
    second = runner.invoke(args=["demo-setup"])
    assert second.exit_code == 0 and "password:" not in second.output
