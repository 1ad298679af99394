"""Review (rvddm): a profile a legacy-profile declaration delivers is not also sent with InstallProfile, however
the declaration reaches the device (here: brought by an activation that names it)."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import Command, ProfileState
from tests.helpers import PROFILE_CORPUS as CORPUS


def test_a_legacy_declaration_brought_by_an_activation_takes_the_profile_off_the_command_path(
        app, api, enroll, ddm, declare):
    phone = enroll("user")
    profile = api("POST", "/profiles", data=(CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    declare("com.apple.configuration.legacy", {}, "example.legacy", profile_id=profile["id"])
    activation = declare("com.apple.activation.simple", {"StandardConfigurations": ["example.legacy"]},
                         "example.activation")
    assert api("PUT", f"/profiles/{profile['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    assert api("PUT", f"/declarations/{activation['id']}/scope", json={"all_user_enrolled": True}).status_code == 200
    listed = ddm(phone, "declaration-items").json()["Declarations"]["Configurations"]
    assert "example.legacy" in {entry["Identifier"] for entry in listed}, "the phone gets the profile declaratively"
    with app.app_context():
        states = [(s.operation, s.status) for s in db.session.scalars(select(ProfileState))]
        queued = [c.request_type for c in db.session.scalars(select(Command).where(Command.status == "queued"))]
    # as when the legacy declaration itself is scoped: the command path gives the profile up at once
    assert [operation for operation, _ in states] != ["install"], states
    assert queued.count("InstallProfile") <= queued.count("RemoveProfile"), queued
