"""One app's page: what its settings form refuses."""
import pytest

from tests.helpers import PROFILE_CORPUS, in_house_app, post_form


@pytest.mark.parametrize("vpn_profile_id", ["9223372036854775808", "99999999999999999999", "\u00b2", "abc"])
def test_a_vpn_profile_id_that_is_no_id_is_a_form_error(api, admin_client, vpn_profile_id):
    """Digits past 64 bits overflowed the lookup and "²" (a digit to isdigit(), not to int()) raised: a 500;
    other text was taken for "none" and silently removed the app's VPN."""
    app_id = in_house_app(api)
    path = f"/admin/apps/{app_id}"
    response = post_form(admin_client, path, {"name": "B", "bundle_id": "org.example.a",
                                              "vpn_profile_id": vpn_profile_id}, page=path)
    assert response.status_code == 422
    assert "Refused: no profile" in response.get_data(as_text=True)
    assert api("GET", f"/apps/{app_id}").get_json()["name"] == "A", "nothing saved"


def test_the_per_app_vpn_chosen_on_the_page_is_saved_and_none_removes_it(api, admin_client):
    vpn = api("POST", "/profiles", data=(PROFILE_CORPUS / "per-app-vpn.mobileconfig").read_bytes()).get_json()["id"]
    app_id = in_house_app(api)
    path = f"/admin/apps/{app_id}"
    for chosen, saved in ((str(vpn), vpn), ("", None)):
        response = post_form(admin_client, path, {"name": "A", "bundle_id": "org.example.a", "vpn_profile_id": chosen},
                             page=path)
        assert response.status_code == 303
        assert api("GET", f"/apps/{app_id}").get_json()["vpn_profile_id"] == saved
