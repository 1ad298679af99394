"""An admin finds a device by search, sends a command and sees its result, in headless Chromium."""
import httpx

from tests.e2e.conftest import enroll_phone


def test_admin_finds_a_device_sends_a_command_and_sees_its_result(live_server, browser_page, sign_in_admin, api_token):
    token = api_token("e2e-enroller")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        phone = enroll_phone(http, token, "carol@example.org")  # and answered the inventory round

        page = browser_page
        sign_in_admin(page)
        page.shot("console-dashboard")

        page.goto(f"{live_server}/admin/devices")
        page.fill("#q", "carol")
        page.click("form[role=search] button[type=submit]")
        page.get_by_role("link", name="carol@example.org").click()
        page.shot("console-device")
        assert "EraseDevice" not in page.content()

        page.locator("summary", has_text="Lock the screen").click()
        page.fill("#DeviceLock-Message", "Please call IT")
        page.click("text=Send DeviceLock")
        page.wait_for_selector("text=DeviceLock queued")
        exchanges = phone.poll(http)
        assert [e.request_type for e in exchanges] == ["DeviceLock"]
        page.reload()
        row = page.locator("tr", has_text="DeviceLock")
        assert row.locator("[data-command-status]").inner_text() == "acknowledged"
        page.shot("console-command-result")


def test_the_device_page_fits_a_phone_screen(live_server, browser_page, sign_in_admin, api_token):
    """At an iPhone's width (390 px) the device page reflows without scrolling sideways (WCAG 1.4.10), as the other
    console pages do; its wide tables scroll in a wrapper a keyboard can reach and a screen reader names."""
    token = api_token("e2e-reflow")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        enroll_phone(http, token, "carol@example.org")  # its inventory round records its certificates
    page = browser_page
    sign_in_admin(page)
    page.goto(f"{live_server}/admin/devices")
    page.get_by_role("link", name="carol@example.org").click()
    page.wait_for_selector("h1")
    scroll_width, width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wide = page.evaluate("""() => [...document.querySelectorAll('main li, main td, main dd')]
        .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.innerText.slice(0, 60))""")
    assert scroll_width <= width, f"the page is {scroll_width} px wide on a {width} px screen; overflowing: {wide[:3]}"
    unreachable = page.evaluate("""() => [...document.querySelectorAll('.table-scroll')]
        .filter(el => el.tabIndex !== 0 || !(el.getAttribute('aria-label') || (el.getAttribute('aria-labelledby') || '')
                 .split(' ').some(id => document.getElementById(id)))).map(el => el.outerHTML.slice(0, 80))""")
    assert not unreachable, f"a scrolling table a keyboard cannot reach, or without a name: {unreachable}"
