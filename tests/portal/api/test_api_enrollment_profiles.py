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


@pytest.mark.parametrize("managed_apple_id", ["a" * 400 + "@example.org", "not-an-apple-id", "ana\x00@example.org"])
def test_a_device_enrollment_profile_checks_the_managed_apple_id_like_a_user_one(app, mint, managed_apple_id):
    for enrollment_type in ("user", "device"):
        response = mint({"enrollment_type": enrollment_type, "managed_apple_id": managed_apple_id})
        assert response.status_code == 422, (enrollment_type, response.data)
        assert response.json["error"] == "invalid_managed_apple_id"
    assert _grants(app) == 0


def test_a_device_enrollment_profile_for_a_valid_id_is_minted(app, mint):
    response = mint({"enrollment_type": "device", "managed_apple_id": "Ana@Example.org"})
    assert response.status_code == 201
    with app.app_context():
        assert db.session.scalar(select(EnrollmentGrant.managed_apple_id)) == "ana@example.org"


@pytest.mark.parametrize("enrollment_type", [[], {}, ["user"]])
def test_an_enrollment_type_that_is_a_list_or_an_object_gets_422_not_500(app, mint, enrollment_type):
    """Looking a list or an object up among the enrollment types raised TypeError (unhashable): a 500."""
    response = mint({"enrollment_type": enrollment_type, "managed_apple_id": "ana@example.org"})
    assert response.status_code == 422, response.data
    assert response.json["error"] == "invalid_enrollment_type"
    assert _grants(app) == 0
