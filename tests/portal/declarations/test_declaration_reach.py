"""What a declaration brings to user-enrolled devices: an activation its configurations and their assets, a
legacy-profile configuration its profile. User Enrollment must allow all of it, whichever declaration is scoped,
and whatever is edited afterwards (the declaration, what it names, or the profile it wraps)."""
import plistlib

from portal.declarations import desired
from portal.extensions import db
from portal.models import Declaration
from tests.helpers import PROFILE_CORPUS as CORPUS
from tests.portal.declarations.conftest import IDENTITY, MAIL

FORBIDDEN = "com.apple.configuration.softwareupdate.enforcement.specific"
ENFORCEMENT = {"TargetOSVersion": "18.1", "TargetLocalDateTime": "2026-12-24T20:00:00"}
PASSCODE = "com.apple.configuration.passcode.settings"
ACTIVATION = "com.apple.activation.simple"
LEGACY = "com.apple.configuration.legacy"
EVERYONE = {"all_user_enrolled": True}


def _manifest(ddm, phone) -> set[str]:
    listed = ddm(phone, "declaration-items").json()["Declarations"]
    return {item["Identifier"] for kind in listed.values() for item in kind}


def _refused(response, *named):
    body = response.get_json()
    assert (response.status_code, body["error"]) == (422, "not_allowed_for_scope"), body
    for text in named:
        assert text in body["detail"]["message"], (text, body["detail"]["message"])


def test_an_activation_cannot_bring_a_configuration_user_enrollment_forbids(api, enroll, ddm, declare):
    phone = enroll("user")
    forbidden = declare(FORBIDDEN, ENFORCEMENT, "example.update")
    activation = declare(ACTIVATION, {"StandardConfigurations": ["example.update"]}, "example.activation")
    assert activation["user_enrollment"] == "forbidden", "what it brings counts"
    _refused(api("PUT", f"/declarations/{activation['id']}/scope", json=EVERYONE),
             "example.update", "User Enrollment")
    assert api("GET", f"/declarations/{forbidden['id']}/status").get_json()["devices"] == []
    assert "example.update" not in _manifest(ddm, phone)

    declare(PASSCODE, {"MinimumLength": 6}, "example.passcode")
    allowed = declare(ACTIVATION, {"StandardConfigurations": ["example.passcode"]}, "example.allowed")
    assert allowed["user_enrollment"] == "allowed"
    assert api("PUT", f"/declarations/{allowed['id']}/scope", json=EVERYONE).status_code == 200
    edit = api("PUT", f"/declarations/{allowed['id']}",
               json={"payload": {"StandardConfigurations": ["example.passcode", "example.update"]}})
    _refused(edit, "example.update")
    assert api("GET", f"/declarations/{allowed['id']}").get_json()["payload"]["StandardConfigurations"] == [
        "example.passcode"], "nothing changed"
    assert _manifest(ddm, phone) >= {"example.allowed", "example.passcode"}
    assert "example.update" not in _manifest(ddm, phone)


def test_an_activation_brings_its_configurations_assets_too(api, enroll, ddm, declare):
    phone = enroll("user")
    declare("com.apple.asset.useridentity", {**IDENTITY, "FullName": "Alice"}, "example.identity")
    declare("com.apple.configuration.account.mail", MAIL, "example.mail")
    activation = declare(ACTIVATION, {"StandardConfigurations": ["example.mail"]}, "example.activation")
    assert api("PUT", f"/declarations/{activation['id']}/scope", json=EVERYONE).status_code == 200
    assert _manifest(ddm, phone) >= {"example.activation", "example.mail", "example.identity"}
    answer = ddm(phone, "declaration/asset/example.identity")
    assert answer.status_code == 200, answer.text


def _forbidden_edit_of(profile: dict) -> bytes:
    """The Wi-Fi profile with proxy keys User Enrollment forbids, under the library profile's identifier."""
    content = plistlib.loads((CORPUS / "wifi-with-proxy.mobileconfig").read_bytes())
    content["PayloadIdentifier"] = profile["identifier"]
    return plistlib.dumps(content)


def test_a_legacy_declaration_cannot_bring_a_profile_user_enrollment_forbids(api, enroll, ddm, declare):
    phone = enroll("user")
    forbidden = api("POST", "/profiles", data=(CORPUS / "global-http-proxy.mobileconfig").read_bytes()).get_json()
    assert forbidden["user_enrollment"] == "forbidden"
    wrapping = declare(LEGACY, {}, "example.proxy", profile_id=forbidden["id"])
    assert wrapping["user_enrollment"] == "forbidden"
    _refused(api("PUT", f"/declarations/{wrapping['id']}/scope", json=EVERYONE),
             f"profile {forbidden['identifier']}", "com.apple.proxy.http.global")

    wifi = api("POST", "/profiles", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    legacy = declare(LEGACY, {}, "example.wifi", profile_id=wifi["id"])
    activation = declare(ACTIVATION, {"StandardConfigurations": ["example.wifi"]}, "example.activation")
    assert api("PUT", f"/declarations/{activation['id']}/scope", json=EVERYONE).status_code == 200
    assert "example.wifi" in _manifest(ddm, phone)
    revision = api("GET", f"/profiles/{wifi['id']}").get_json()["revision"]
    _refused(api("PUT", f"/profiles/{wifi['id']}", data=_forbidden_edit_of(wifi)), "example.wifi", "ProxyType")
    assert api("GET", f"/profiles/{wifi['id']}").get_json()["revision"] == revision, "the profile is unchanged"
    _refused(api("PUT", f"/declarations/{legacy['id']}", json={"payload": {}, "profile_id": forbidden["id"]}),
             "com.apple.proxy.http.global")
    assert api("GET", f"/declarations/{legacy['id']}").get_json()["profile_id"] == wifi["id"]

    api("PUT", f"/declarations/{activation['id']}/scope", json={})
    assert api("PUT", f"/profiles/{wifi['id']}", data=_forbidden_edit_of(wifi)).status_code == 200, \
        "no scope brings it to user-enrolled devices any more: the edit is the profile's own business"


def test_a_set_written_before_the_refusal_sheds_what_user_enrollment_forbids(app, api, enroll, ddm, declare):
    """An activation stored naming a forbidden configuration (as the library allowed before it checked what a
    declaration brings) brings the phone everything else it names, and not that."""
    phone = enroll("user")
    declare(FORBIDDEN, ENFORCEMENT, "example.update")
    declare(PASSCODE, {"MinimumLength": 6}, "example.passcode")
    proxy = api("POST", "/profiles", data=(CORPUS / "global-http-proxy.mobileconfig").read_bytes()).get_json()
    wifi = api("POST", "/profiles", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    legacy = declare(LEGACY, {}, "example.legacy", profile_id=wifi["id"])
    named = ["example.passcode", "example.legacy"]
    activation = declare(ACTIVATION, {"StandardConfigurations": named}, "example.activation")
    assert api("PUT", f"/declarations/{activation['id']}/scope", json=EVERYONE).status_code == 200
    with app.app_context():
        stored = db.session.get(Declaration, activation["id"])
        stored.payload = {"StandardConfigurations": [*named, "example.update"]}
        stored.refers_to = [*named, "example.update"]
        db.session.get(Declaration, legacy["id"]).profile_id = proxy["id"]
        desired.reconcile(db.session)
        db.session.commit()
    held = _manifest(ddm, phone)
    assert "example.passcode" in held and not {"example.update", "example.legacy"} & held
    assert ddm(phone, "declaration/configuration/example.update").status_code == 404


def test_reviving_a_wrapped_profile_is_checked_and_brings_the_declaration_back(api, enroll, ddm, declare):
    phone = enroll("user")
    wifi = api("POST", "/profiles", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    legacy = declare(LEGACY, {}, "example.wifi", profile_id=wifi["id"])
    assert api("PUT", f"/declarations/{legacy['id']}/scope", json=EVERYONE).status_code == 200
    assert api("DELETE", f"/profiles/{wifi['id']}").status_code == 200
    assert "example.wifi" not in _manifest(ddm, phone)
    _refused(api("POST", "/profiles", data=_forbidden_edit_of(wifi)), "example.wifi", "ProxyType")
    revived = api("POST", "/profiles", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    assert revived.status_code == 201 and revived.get_json()["id"] == wifi["id"]
    assert "example.wifi" in _manifest(ddm, phone)
