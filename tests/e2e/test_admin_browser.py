"""The admin console in real headless Chromium."""


def test_admin_signs_in_with_chromium(live_server, browser_page, make_admin):
    email, password = make_admin()
    page = browser_page
    page.goto(f"{live_server}/admin/login")
    page.shot("admin-login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/")
    assert page.locator("h1").inner_text() == "Dashboard"
    page.shot("admin-dashboard")
