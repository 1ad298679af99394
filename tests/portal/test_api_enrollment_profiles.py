"""POST /api/v1/enrollment-profiles: what cannot go into an enrollment profile gets a 422 and leaves no grant."""
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import EnrollmentGrant


@pytest.fixture
def mint(client, api_token):
    token = api_token("minting")

    def call(body):
        return client.post("/api/v1/enrollment-profiles", json=body, headers={"Authorization": f"Bearer {token}"})

    return call


def _grants(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(EnrollmentGrant))


def test_a_managed_apple_id_with_a_control_character_gets_422_not_500(app, mint):
    response = mint({"enrollment_type": "user", "managed_apple_id": "ana\x01@example.org"})
    assert response.status_code == 422, response.data
    assert response.json["error"] == "invalid_managed_apple_id"
    assert _grants(app) == 0
