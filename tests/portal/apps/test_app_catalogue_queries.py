"""The app page's per-app VPN choices cost one query, however many profiles the library holds (a
profile's content is deferred: reading it row by row was one more query a profile)."""
from portal.apps.catalogue import per_app_vpn_profiles
from portal.extensions import db
from tests.helpers import PROFILE_CORPUS
from tests.portal.profiles.test_reconciliation import counted_statements


def test_the_per_app_vpn_choices_are_read_in_one_query_however_large_the_library(app, api):
    vpn = api("POST", "/profiles", data=(PROFILE_CORPUS / "per-app-vpn.mobileconfig").read_bytes()).get_json()["id"]
    for name in ("web-clip", "restrictions", "caldav", "root-cert"):
        assert api("POST", "/profiles", data=(PROFILE_CORPUS / f"{name}.mobileconfig").read_bytes()).status_code == 201
    with app.app_context(), counted_statements() as statements:
        assert [profile_id for profile_id, _ in per_app_vpn_profiles(db.session)] == [vpn]
    assert len(statements) == 1
