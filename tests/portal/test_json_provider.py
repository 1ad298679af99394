"""A JSON body nested too deeply is malformed JSON: every JSON endpoint answers its 400, never a 500."""
import pytest

from portal.json_provider import MAX_JSON_DEPTH

ENDPOINTS = [("PATCH", "/settings/enrollment"), ("PATCH", "/settings/inventory"), ("POST", "/enrollment-profiles"),
             ("POST", "/commands/bulk"), ("POST", "/devices/{device}/commands"), ("POST", "/migration/unenroll")]


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a": ' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}"],
                         ids=["past-the-recursion-limit", "past-max-json-depth"])
@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_deeply_nested_json_gets_the_malformed_json_400(client, api_token, seed, method, path, body):
    [device] = seed(1)
    response = client.open(f"/api/v1{path.format(device=device)}", method=method, data=body,
                           content_type="application/json", headers={"Authorization": f"Bearer {api_token()}"})
    assert response.status_code == 400, response.data
    assert response.json["error"] == "bad_request"


def test_json_as_deep_as_allowed_still_parses(app):
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    with app.app_context():
        value = app.json.loads(nested)
    for _ in range(MAX_JSON_DEPTH - 1):
        value = value[0]
    assert value == []
