"""The employee pages in headless Chromium at an iPhone viewport, checked as a phone user and a screen-reader
user meet them: tap targets, contrast, and a refused privacy form."""
from __future__ import annotations

import httpx
import pytest

from mdm_core.simulator.device import SimulatedDevice
from portal.extensions import db
from portal.settings_store import DEFAULT_PRIVACY_DISCLOSURE, update_enrollment_settings

pytestmark = pytest.mark.e2e

CONTRAST = """el => {
  const channel = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = rgb => { const [r, g, b] = rgb.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
                             return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b); };
  const style = getComputedStyle(el);
  const [a, b] = [luminance(style.color), luminance(style.backgroundColor)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def sign_in(page, live_server) -> None:
    """The demo identity provider's first person signs in from /enroll and lands on the privacy page."""
    page.goto(f"{live_server}/enroll")
    page.click("#steps-h ~ a.button")
    page.click("button[value=sign_in]")
    page.wait_for_url(f"{live_server}/enroll/privacy")


def test_the_employee_navigation_is_large_enough_to_tap(live_server, browser_page):
    page = browser_page
    sign_in(page, live_server)
    targets = page.locator("header nav a, header nav button")
    assert targets.count() == 3  # Enroll, My devices, Sign out
    small = []
    for index in range(targets.count()):
        box = targets.nth(index).bounding_box()
        if box["height"] < 44:
            small.append(f"{targets.nth(index).inner_text()!r} {box['width']:.0f}x{box['height']:.0f}")
    assert not small, f"tap targets under 44 px on the phone: {small}"


def test_the_enrolled_badge_is_readable(live_server, browser_page):
    page = browser_page
    sign_in(page, live_server)
    page.check("#acknowledge")
    page.click("#acknowledge-form button[type=submit]")
    page.wait_for_url(f"{live_server}/enroll/profile")
    with page.expect_download() as download:
        page.click("#download")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        SimulatedDevice(enrollment_type="user").install_profile(open(download.value.path(), "rb").read(), http)
    page.goto(f"{live_server}/enroll/devices")
    badge = page.locator("td .badge").first
    assert badge.inner_text() == "enrolled"
    ratio = badge.evaluate(CONTRAST)
    assert ratio >= 4.5, f"the status badge's small text has a contrast of {ratio:.2f}:1 (WCAG 1.4.3 asks 4.5:1)"


def test_a_refused_privacy_form_points_the_employee_at_the_reason(app, live_server, browser_page):
    """The disclosure changed while the employee read it: the page comes back with the box unticked and the
    reason above it. On the phone the reason is a long scroll below the top of the reloaded page, so focus must
    go to it (or the box it is about), and the box must be described by it."""
    page = browser_page
    sign_in(page, live_server)
    with app.app_context():
        update_enrollment_settings({"privacy_disclosure": "IT sees the organisation's apps, and now more."})
        db.session.commit()
    try:
        page.check("#acknowledge")
        page.click("#acknowledge-form button[type=submit]")
        page.wait_for_selector("[role=alert]")
        alert = page.locator("main [role=alert]")
        box = page.locator("#acknowledge")
        assert box.is_checked() is False
        alert_id = alert.get_attribute("id")
        described = (box.get_attribute("aria-describedby") or "").split()
        assert alert_id and alert_id in described, "the unticked box is not described by the reason it was refused"
        focused = page.evaluate("document.activeElement.id || document.activeElement.tagName")
        assert focused in (alert_id, "acknowledge"), f"focus stays on {focused}, the reason is off screen"
    finally:
        with app.app_context():
            update_enrollment_settings({"privacy_disclosure": DEFAULT_PRIVACY_DISCLOSURE})
            db.session.commit()
