"""An admin uploads the Apps and Books token, adds an App Store app with a managed configuration and
scopes it to a group, in headless Chromium; the app's page then shows the device waiting for it."""
import re

from portal.desired_state import memberships_synced
from portal.extensions import db
from portal.models import EndUser


def test_admin_uploads_a_token_adds_an_app_with_configuration_and_scopes_it(app, live_server, browser_page,
                                                                            sign_in_admin, vpp_standin, enroll):
    saved = {key: app.config.get(key) for key in ("VPP_ENDPOINT", "VPP_CA_BUNDLE", "ITUNES_LOOKUP_URL")}
    app.config.update(VPP_ENDPOINT=vpp_standin.url, VPP_CA_BUNDLE=vpp_standin.ca_bundle, ITUNES_LOOKUP_URL=None)
    try:
        vpp_standin.state.add_asset("284882215", total_count=25)
        with app.app_context():
            user = EndUser(issuer="https://idp.example.org", subject="ivy", managed_apple_id="ivy@example.org",
                           email="ivy@example.org", name="Ivy Example")
            db.session.add(user)
            db.session.flush()
            memberships_synced(db.session, user, ["field-sales"])
            db.session.commit()
        enroll(managed_apple_id="ivy@example.org")

        page = browser_page
        sign_in_admin(page)

        page.goto(f"{live_server}/admin/apps/token")
        page.set_input_files("#token", files=[{"name": "location.vpptoken", "mimeType": "application/octet-stream",
                                               "buffer": vpp_standin.token_file}])
        page.click("form[enctype] button[type=submit]")
        page.wait_for_selector("text=This server now manages the location.")
        assert "Example Organization" in page.content()
        page.shot("apps-1-token")

        page.get_by_role("link", name="Apps", exact=True).first.click()
        page.click("text=Sync now")
        page.wait_for_selector("text=Synced: 1 asset(s)")
        page.shot("apps-2-catalogue")

        page.get_by_role("link", name="284882215").click()
        page.fill("#name", "Field Sales")
        page.fill("#bundle_id", "com.example.fieldsales")
        page.fill("#configuration", '{"server": "https://crm.example.org", "user": "$EMAIL", "offline": true}')
        page.click("text=Save")
        page.wait_for_selector("text=Saved:")
        assert "$EMAIL" in page.input_value("#configuration")
        page.shot("apps-3-app")

        page.get_by_role("link", name="Scope").click()
        page.check("input[name=groups][value=field-sales]")
        page.click("button[value=preview]")
        page.wait_for_selector("[data-preview=added]:text-is('1')")
        page.shot("apps-4-scope")
        page.click("button[value=save]")
        page.wait_for_selector("text=Scope saved: 1 device added, 0 devices removed.")
        assert re.search(r"0 installed · 1 pending", page.content())
        page.shot("apps-5-waiting")
    finally:
        app.config.update(saved)
