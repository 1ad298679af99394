"""An uploaded content token is stored even when the Apps and Books service cannot be reached at once:
the page and the API say why, and the worker claims the location later."""
import socket

import pytest

from mdm_core.vpp.token import make_content_token
from portal.extensions import db
from portal.models import VppToken
from tests.helpers import csrf_token_from


@pytest.fixture
def unreachable(app):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    saved = app.config["VPP_ENDPOINT"]
    app.config["VPP_ENDPOINT"] = f"https://127.0.0.1:{port}/mdm/v2/"
    yield
    app.config["VPP_ENDPOINT"] = saved


def _stored_error(app):
    with app.app_context():
        row = db.session.get(VppToken, 1)
        return row.claimed_at, row.last_error


def test_the_api_stores_the_token_and_reports_the_unreachable_service(app, api, unreachable):
    answer = api("POST", "/vpp/token", data=make_content_token())
    assert answer.status_code == 200 and answer.get_json()["location"]["claimed"] is False
    assert answer.get_json()["last_error"].startswith("the Apps and Books service failed")
    claimed_at, last_error = _stored_error(app)
    assert claimed_at is None and last_error == answer.get_json()["last_error"]


def test_the_page_stores_the_token_and_says_the_service_could_not_be_reached(app, admin_client, unreachable):
    token = csrf_token_from(admin_client.get("/admin/apps/token").get_data(as_text=True))
    posted = admin_client.post("/admin/apps/token", data={"csrf_token": token,
                                                          "token_text": make_content_token().decode()})
    assert posted.status_code == 303
    page = admin_client.get("/admin/apps/token").get_data(as_text=True)
    assert "the service could not be reached" in page
    claimed_at, last_error = _stored_error(app)
    assert claimed_at is None and last_error.startswith("the Apps and Books service failed")
