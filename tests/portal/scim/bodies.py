"""The guides' request bodies, and resources made through the endpoint as a directory makes them."""
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "scim"


def guide_body(name: str, **ids: str) -> dict:
    """A request body of ``tests/data/scim`` with ``{user}``-style placeholders filled."""
    text = (DATA / f"{name}.json").read_text()
    for key, value in ids.items():
        text = text.replace("{" + key + "}", value)
    return json.loads(text)


def create_user(scim, user_name: str, **extra) -> str:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, "active": True,
            "emails": [{"value": user_name, "primary": True, "type": "work"}], **extra}
    response = scim("POST", "/Users", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def create_group(scim, name: str, *member_ids: str) -> str:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
            "members": [{"value": member} for member in member_ids]}
    response = scim("POST", "/Groups", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]
