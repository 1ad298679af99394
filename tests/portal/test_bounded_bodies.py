"""Account-driven enrollment, SCEP and the profile checker read at most one byte past their limit: a body
past it, chunked (no length to refuse it by) or not, gets 413, not a cut body refused as malformed."""
import io

import pytest

from mdm_core.account_driven import MAX_REQUEST_BYTES
from portal.extensions import db
from portal.settings_store import update_enrollment_settings

SCEP = "/scep?operation=PKIOperation"


def _chunked(client, method, path, body, headers=None):
    """Send ``body`` without Content-Length, as a server that decodes chunked bodies hands it on."""
    return client.open(path, method=method, input_stream=io.BytesIO(body),
                       headers={"Transfer-Encoding": "chunked", **(headers or {})},
                       environ_overrides={"wsgi.input_terminated": True})


@pytest.fixture
def account_driven_on(app):
    with app.app_context():
        update_enrollment_settings({"account_driven_enabled": True, "managed_domains": ["example.org"]})
        db.session.commit()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_account_driven_enrollment_past_its_limit_gets_413(client, account_driven_on, chunked):
    body = b"<" * (MAX_REQUEST_BYTES + 1)
    response = (_chunked(client, "POST", "/account-driven/enroll", body) if chunked
                else client.post("/account-driven/enroll", data=body))
    assert response.status_code == 413, response.data
    assert b"too large" in response.data


def test_account_driven_enrollment_of_exactly_its_limit_is_read_whole(client, account_driven_on):
    response = _chunked(client, "POST", "/account-driven/enroll", b"<" * MAX_REQUEST_BYTES)
    assert response.status_code == 400  # read whole, then refused as not a plist


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_scep_post_past_the_limit_gets_413(app, client, chunked):
    body = b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = _chunked(client, "POST", SCEP, body) if chunked else client.post(SCEP, data=body)
    assert response.status_code == 413, response.data
    assert response.mimetype == "text/plain"


def test_a_chunked_scep_post_within_the_limit_is_read_and_refused_as_malformed(client):
    response = _chunked(client, "POST", SCEP, b"0" * 1000)
    assert response.status_code == 400 and b"bad SCEP request" in response.data


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_profile_check_past_the_limit_gets_the_json_413(app, client, api_token, chunked):
    headers = {"Authorization": f"Bearer {api_token()}"}
    body = b"<" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = (_chunked(client, "POST", "/api/v1/profiles/check", body, headers) if chunked
                else client.post("/api/v1/profiles/check", data=body, headers=headers))
    assert response.status_code == 413, response.data
    assert response.json["error"] == "request_entity_too_large"
