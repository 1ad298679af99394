"""Rules of Apple's declaration schemas beyond key types: predicates a phone can read, status items that exist
and that User Enrollment reports, ranges, a managed app's one source."""
import pytest

SUBSCRIPTIONS = "com.apple.configuration.management.status-subscriptions"


def test_an_activation_with_a_predicate_no_phone_can_parse_is_refused_naming_the_predicate(api, declare):
    declare("com.apple.configuration.passcode.settings", {"MinimumLength": 6}, "example.passcode")
    for predicate in ("((((", "@status(device.model.family) ==", "@status(device.model.family) == 'iPhone' AND"):
        response = api("POST", "/declarations", json={"type": "com.apple.activation.simple", "payload": {
            "StandardConfigurations": ["example.passcode"], "Predicate": predicate}})
        assert response.status_code == 422, (predicate, response.get_json())
        assert "Predicate" in str(response.get_json()["detail"])


@pytest.mark.parametrize("item", ["device.identifier.serial-number", "device.identifier.udid",
                                  "device.power.battery-health"])
def test_a_status_subscription_to_an_item_user_enrollment_does_not_allow_never_reaches_a_user_enrolled_phone(
        api, enroll, ddm, item):
    phone = enroll("user")
    response = api("POST", "/declarations", json={"type": SUBSCRIPTIONS, "identifier": "example.subscriptions",
                                                  "payload": {"StatusItems": [{"Name": item}]}})
    if response.status_code == 201:  # saved (another enrollment type could take it): its user-enrolled scope is refused
        declaration = response.get_json()
        assert declaration["user_enrollment"] == "forbidden"
        scoped = api("PUT", f"/declarations/{declaration['id']}/scope", json={"all_user_enrolled": True})
        assert scoped.status_code == 422 and item in str(scoped.get_json()["detail"]), scoped.get_json()
    else:
        assert response.status_code == 422 and item in str(response.get_json()["detail"])
    listed = ddm(phone, "declaration-items").json()["Declarations"]["Configurations"]
    assert "example.subscriptions" not in {entry["Identifier"] for entry in listed}


def test_a_status_subscription_to_an_unknown_status_item_is_refused(api):
    response = api("POST", "/declarations", json={"type": SUBSCRIPTIONS, "payload": {
        "StatusItems": [{"Name": "device.no-such-item"}]}})
    assert response.status_code == 422, response.get_json()
    assert "device.no-such-item" in str(response.get_json()["detail"])


@pytest.mark.parametrize("payload, key", [
    ({"MinimumLength": 99}, "MinimumLength"),             # range 0..16
    ({"MaximumFailedAttempts": 1}, "MaximumFailedAttempts"),  # range 2..11
    ({"MinimumComplexCharacters": 9}, "MinimumComplexCharacters"),  # range 0..4
])
def test_a_value_outside_the_schemas_range_is_refused_naming_the_key(api, payload, key):
    response = api("POST", "/declarations", json={"type": "com.apple.configuration.passcode.settings",
                                                  "payload": payload})
    assert response.status_code == 422, response.get_json()
    assert key in response.get_json()["detail"]["message"]


@pytest.mark.parametrize("payload", [
    {},
    {"AppStoreID": "361309726", "BundleID": "com.apple.Pages"},
    {"BundleID": "com.apple.Pages", "ManifestURL": "https://apps.example.org/pages.plist"},
])
def test_a_managed_app_needs_exactly_one_of_app_store_id_bundle_id_and_manifest_url(api, payload):
    response = api("POST", "/declarations", json={"type": "com.apple.configuration.app.managed", "payload": payload})
    assert response.status_code == 422, response.get_json()
