"""An admin runs the migration of a legacy device in headless Chromium: notify, confirm, and watch it re-enroll."""
import httpx

from tests.e2e.conftest import enroll_phone


def test_admin_migrates_a_legacy_device_to_user_enrollment(live_server, browser_page, sign_in_admin, api_token):
    token = api_token("e2e-migration")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        legacy = enroll_phone(http, token, "dora@example.org", "device")
        enroll_phone(http, token, "eli@example.org")

        page = browser_page
        sign_in_admin(page)
        page.goto(f"{live_server}/admin/migration")
        assert page.locator('[data-state="legacy"]').inner_text() == "1"
        assert "eli@example.org" not in page.content(), "User Enrollments are not part of the migration"

        page.locator("tr", has_text="dora@example.org").locator("input[type=checkbox]").check()
        page.click("button[value=notify]")
        page.wait_for_selector("text=1 device marked as notified")
        page.locator("tr", has_text="dora@example.org").locator("input[type=checkbox]").check()
        page.click("button[value=unenroll]")
        page.wait_for_selector("text=What the employee loses")
        page.shot("migration-confirm")
        page.check("input[name=confirm]")
        page.click("text=Send un-enrollment")
        page.wait_for_selector("text=Un-enrollment queued for 1 device")

        assert [(e.request_type, e.status) for e in legacy.poll(http)] == [("RemoveProfile", "Acknowledged")]
        enroll_phone(http, token, "dora@example.org")
        page.goto(f"{live_server}/admin/migration")
        assert page.locator('[data-state="re_enrolled"]').inner_text() == "1"
        page.shot("migration-progress")
        page.get_by_role("link", name="history").click()
        page.wait_for_selector("text=Re-enrolled with User Enrollment")
        page.shot("migration-history")
