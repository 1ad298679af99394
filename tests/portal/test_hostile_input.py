"""Input shaped to break a layer below the rules: values nested past what the plist writer can recurse,
dates past the ends of the calendar, NUL characters PostgreSQL refuses. Each gets a clear 4xx and
changes nothing."""
import base64
import json

import pytest
from sqlalchemy import func, select

from mdm_core.plist import MAX_DEPTH
from portal.extensions import db
from portal.models import Command


@pytest.fixture
def api(client, api_token):
    token = api_token("hostile-input")

    def call(method, path, **kwargs):
        return client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return call


def _commands(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Command))


def test_a_free_form_command_key_nested_past_the_plist_depth_limit_gets_422(app, api, seed):
    [device] = seed(1)
    configuration: dict = {}
    for _ in range(MAX_DEPTH + 8):
        configuration = {"Next": configuration}
    response = api("POST", f"/devices/{device}/commands", json={"request_type": "InstallApplication",
                                                                 "iTunesStoreID": 1, "Configuration": configuration})
    assert response.status_code == 422, response.data
    assert response.json["error"] == "command_not_allowed"
    assert "Configuration" in json.dumps(response.json["detail"])
    assert _commands(app) == 0
