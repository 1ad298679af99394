"""The SCIM endpoint's edges: tokens, discovery, errors for bad input (never a 5xx), paging limits."""
import pytest

from portal.scim.protocol import MAX_OPERATIONS
from tests.portal.scim.bodies import create_group, create_user

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def assert_error(response, status, scim_type=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type.startswith("application/scim+json")
    body = response.get_json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert body.get("scimType") == scim_type
    return body


def test_without_a_token_is_401_with_a_scim_error(client):
    response = client.get("/scim/v2/Users")
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_token_is_401(client):
    assert_error(client.get("/scim/v2/Users", headers={"Authorization": "Bearer bmdm_wrong"}), 401)


def test_a_token_without_the_scim_scope_is_403(client, api_token):
    token = api_token("automation")  # every REST scope, not scim
    assert_error(client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}), 403)


def test_a_scim_token_reaches_nothing_in_the_rest_api(client, api_token):
    token = api_token("directory", scopes=("scim",))
    for path in ("/api/v1/devices", "/api/v1/groups", "/api/v1/settings/enrollment"):
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_scim_cannot_be_mixed_with_other_scopes(app):
    from portal.models import ApiToken

    with pytest.raises(ValueError, match="no other scope"):
        ApiToken.issue("mixed", ("scim", "read"))


def test_discovery_documents(scim):
    config = scim("GET", "/ServiceProviderConfig").get_json()
    assert config["patch"]["supported"] is True and config["filter"] == {"supported": True, "maxResults": 1000}
    assert config["bulk"]["supported"] is False
    types = scim("GET", "/ResourceTypes").get_json()
    assert {t["id"]: t["endpoint"] for t in types["Resources"]} == {"User": "/Users", "Group": "/Groups"}
    schemas = {s["id"] for s in scim("GET", "/Schemas").get_json()["Resources"]}
    assert "urn:ietf:params:scim:schemas:core:2.0:User" in schemas
    assert "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" in schemas
    assert scim("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group").get_json()["name"] == "Group"
    assert_error(scim("GET", "/ResourceTypes/Printer"), 404)


def test_malformed_json_is_invalid_syntax(scim):
    assert_error(scim("POST", "/Users", b'{"userName": '), 400, "invalidSyntax")
    assert_error(scim("POST", "/Users", b"[1, 2]"), 400, "invalidSyntax")
    assert_error(scim("POST", "/Users", b"[" * 100_000), 400, "invalidSyntax")


def test_an_unknown_attribute_is_refused(scim):
    body = assert_error(scim("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                "userName": "a@example.com", "shoeSize": 44}), 400, "invalidSyntax")
    assert "shoeSize" in body["detail"]


def test_a_user_name_that_is_not_an_address_is_invalid_value(scim):
    body = assert_error(scim("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                "userName": "jdoe"}), 400, "invalidValue")
    assert "Managed Apple ID" in body["detail"]


def test_a_missing_user_name_is_invalid_value(scim):
    assert_error(scim("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}), 400, "invalidValue")


@pytest.mark.parametrize("text", ['userName eq', 'userName eq "a" and', '(userName eq "a"', 'userName xx "a"'])
def test_a_filter_that_does_not_parse_is_invalid_filter(scim, text):
    assert_error(scim("GET", "/Users", query_string={"filter": text}), 400, "invalidFilter")


def test_a_filter_on_an_attribute_that_is_not_searchable_is_invalid_filter(scim):
    assert_error(scim("GET", "/Users", query_string={"filter": 'nickName eq "x"'}), 400, "invalidFilter")
    assert_error(scim("GET", "/Users", query_string={"filter": 'active gt true'}), 400, "invalidFilter")


def test_too_large_a_page_is_too_many(scim):
    assert_error(scim("GET", "/Users", query_string={"count": "1001"}), 400, "tooMany")
    assert_error(scim("GET", "/Users", query_string={"count": "ten"}), 400, "invalidValue")


def test_a_body_past_the_limit_is_413(scim):
    assert_error(scim("POST", "/Users", b'{"a": "' + b"x" * (3 * 1024 * 1024) + b'"}'), 413)


def test_unknown_ids_and_paths_are_404_and_a_wrong_method_405(scim):
    assert_error(scim("GET", "/Users/nope"), 404)
    assert_error(scim("GET", "/Groups/nope"), 404)
    assert_error(scim("GET", "/Printers"), 404)
    assert_error(scim("POST", "/ServiceProviderConfig", {}), 405)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("kind", ["Users", "Groups"])
def test_an_id_holding_a_nul_is_404_not_a_5xx(scim, kind, method):
    """The id was sent to the database as it came: PostgreSQL refuses a NUL in text, so this answered 500."""
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]}
    if method == "PUT":
        body = {"schemas": [f"urn:ietf:params:scim:schemas:core:2.0:{kind[:-1]}"], "userName": "a@example.org",
                "displayName": "x"}
    assert_error(scim(method, f"/{kind}/a%00b", None if method in ("GET", "DELETE") else body), 404)


def test_a_duplicate_user_name_is_uniqueness(scim):
    create_user(scim, "dup@example.com")
    assert_error(scim("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                         "userName": "DUP@example.com"}), 409, "uniqueness")


def test_a_patch_of_a_read_only_or_unknown_group_attribute_is_refused(scim):
    from tests.portal.scim.bodies import create_group

    group = create_group(scim, "Ops")
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
    assert_error(scim("PATCH", f"/Groups/{group}", {**patch, "Operations": [{"op": "remove"}]}), 400, "noTarget")
    assert_error(scim("PATCH", f"/Groups/{group}", {**patch, "Operations": [
        {"op": "replace", "path": "id", "value": "other"}]}), 400, "mutability")
    assert_error(scim("PATCH", f"/Groups/{group}", {**patch, "Operations": [
        {"op": "replace", "path": "colour", "value": "red"}]}), 400, "noTarget")
    assert_error(scim("PATCH", f"/Groups/{group}", {**patch, "Operations": [
        {"op": "add", "path": "members", "value": [{"value": "nobody"}]}]}), 400, "invalidValue")
    assert_error(scim("PATCH", f"/Groups/{group}", {**patch, "Operations": [
        {"op": "move", "path": "members"}]}), 400, "invalidSyntax")


def test_text_no_database_can_store_is_invalid_value_not_a_5xx(scim):
    assert_error(scim("POST", "/Users", b'{"userName": "a\\u0000b@example.com"}'), 400, "invalidValue")
    assert_error(scim("POST", "/Users", b'{"userName": "a\\ud800b@example.com"}'), 400, "invalidValue")
    assert_error(scim("GET", "/Users", query_string={"filter": 'userName eq "a\\u0000"'}), 400, "invalidFilter")
    assert_error(scim("GET", "/Users", query_string={"startIndex": "9" * 30}), 400, "invalidValue")
    assert scim("GET", "/Users", query_string={"startIndex": str(2**31 - 1)}).status_code == 200


def test_values_longer_than_their_column_or_with_control_characters_are_invalid_value_not_a_5xx(scim):
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "long@example.com"}
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops"}
    assert_error(scim("POST", "/Users", {**user, "externalId": "x" * 256}), 400, "invalidValue")
    assert_error(scim("POST", "/Users", {**user, "displayName": "Eve\x1b[31m"}), 400, "invalidValue")
    assert_error(scim("POST", "/Users", {**user, "userName": "a" * 200 + "@" + "b" * 200 + ".com"}), 400, "invalidValue")
    assert_error(scim("POST", "/Users", {**user, "userName": "bell\x07@example.com"}), 400, "invalidValue")
    assert_error(scim("POST", "/Groups", {**group, "externalId": "y" * 256}), 400, "invalidValue")
    assert_error(scim("POST", "/Groups", {**group, "displayName": "Ops\x07"}), 400, "invalidValue")
    assert scim("POST", "/Users", {**user, "externalId": "x" * 255, "displayName": "Eve"}).status_code == 201
    assert scim("POST", "/Groups", {**group, "externalId": "y" * 255}).status_code == 201


def test_a_user_resource_cannot_grow_past_its_stored_bound(scim):
    user = create_user(scim, "grow@example.com")
    numbers = [{"value": f"+1 555 {n:07d}", "type": "work"} for n in range(3000)]  # about 120 KB
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "add", "path": "phoneNumbers", "value": numbers}]}
    assert_error(scim("PATCH", f"/Users/{user}", patch), 400, "invalidValue")
    assert "phoneNumbers" not in scim("GET", f"/Users/{user}").get_json()


@pytest.mark.parametrize(("kind", "key", "path", "value"), [
    ("Users", "Operations", "phoneNumbers", [{"value": "+1 555 0100"}]),
    ("Users", "operations", "phoneNumbers", [{"value": "+1 555 0100"}]),  # attribute names are case-insensitive
    ("Groups", "Operations", "externalId", "many")])
def test_a_patch_of_more_operations_than_the_bound_is_too_many_and_changes_nothing(scim, kind, key, path, value):
    """A User PATCH had no bound: scim2-models validates the whole resource again per operation, so 3,000 small
    ``add`` ops (far under the body limit) took 25 s of CPU inside the transaction before answering 200."""
    created = create_user(scim, "many@example.com") if kind == "Users" else create_group(scim, "Many")
    operations = [{"op": "add", "path": path, "value": value}] * (MAX_OPERATIONS + 1)
    assert_error(scim("PATCH", f"/{kind}/{created}", {"schemas": [PATCH], key: operations}), 400, "tooMany")
    assert path not in scim("GET", f"/{kind}/{created}").get_json()
