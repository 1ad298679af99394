"""End-to-end fixtures: the app served on a real port, and headless Chromium at an iPhone viewport."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IPHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True,
          "user_agent": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                         "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")}


@pytest.fixture(scope="session")
def live_server(app, live_port):
    """The session's app on http://127.0.0.1:<live_port> (its PUBLIC_URL), threaded."""
    server = make_server("127.0.0.1", live_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app.config["PUBLIC_URL"]
    server.shutdown()


@pytest.fixture(scope="module")
def chromium():
    """Playwright's sync API keeps an event loop running in this thread while it lives, so it
    lives per module: later tests (the APNs client) run their own asyncio loops."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not installed at {CHROMIUM} (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def browser_page(chromium, tmp_path):
    """A fresh Chromium profile at an iPhone viewport; ``shot(name)`` saves a screenshot artifact."""
    context = chromium.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                          args=CHROMIUM_ARGS, headless=True, accept_downloads=True,
                                                          **IPHONE)
    page = context.pages[0] if context.pages else context.new_page()
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    page.shot = shot
    yield page
    context.close()


IDP_DIR = Path(__file__).resolve().parents[1] / "idp"


class OidcProvider:
    """The running test IdP: its issuer, our client's credentials, and the claims each login name gets."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, accounts_file: Path):
        self.issuer, self.client_id, self.client_secret = issuer, client_id, client_secret
        self.accounts_file = accounts_file

    def set_accounts(self, accounts: dict) -> None:
        """Login name -> claims (``email``, ``groups``, ``name``); unknown names get ``email`` = the name."""
        import json

        self.accounts_file.write_text(json.dumps(accounts))


@pytest.fixture(scope="session")
def oidc_provider(live_port, tmp_path_factory):
    """panva/oidc-provider (tests/idp, pinned) on a free port, with a client for the live server."""
    import json
    import shutil
    import subprocess
    import time

    import socket

    import httpx

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed for the test identity provider (.ci/run installs them)")
    if not (IDP_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=IDP_DIR, check=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    accounts = tmp_path_factory.mktemp("idp") / "accounts.json"
    accounts.write_text("{}")
    provider = OidcProvider(f"http://127.0.0.1:{port}", "byod-portal-tests", "test-client-secret-0123456789", accounts)
    env = {**os.environ, "PORT": str(port), "CLIENT_ID": provider.client_id, "CLIENT_SECRET": provider.client_secret,
           "REDIRECT_URIS": json.dumps([f"http://127.0.0.1:{live_port}/auth/callback"]), "ACCOUNTS_FILE": str(accounts)}
    process = subprocess.Popen(["node", "server.js"], cwd=IDP_DIR, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(provider.issuer + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"test IdP did not start: {process.stderr.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.1)
    yield provider
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def oidc_app(app, oidc_provider):
    """Point the session's app at the test IdP for one test (the demo IdP serves otherwise)."""
    from portal.auth.oidc import forget_provider_cache

    keys = ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")
    saved = {key: app.config.get(key) for key in keys}
    app.config.update(OIDC_ISSUER=oidc_provider.issuer, OIDC_CLIENT_ID=oidc_provider.client_id,
                      OIDC_CLIENT_SECRET=oidc_provider.client_secret)
    forget_provider_cache()
    oidc_provider.set_accounts({})
    yield app
    app.config.update(saved)
    forget_provider_cache()


@pytest.fixture
def sign_in_admin(live_server, make_admin):
    """``sign_in_admin(page)``: an admin signs in on the console's login page and lands on the dashboard."""
    def sign_in(page) -> None:
        email, password = make_admin()
        page.goto(f"{live_server}/admin/login")
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/admin/")

    return sign_in


def enroll_phone(http, token: str, managed_apple_id: str, enrollment_type: str = "user"):
    """A simulated iPhone enrolled over ``http`` (the live server) with a profile the API minted; it has
    answered what the server queued at enrollment."""
    from mdm_core.simulator.device import SimulatedDevice

    profile = http.post("/api/v1/enrollment-profiles", headers={"Authorization": f"Bearer {token}"},
                        json={"enrollment_type": enrollment_type, "managed_apple_id": managed_apple_id})
    assert profile.status_code == 201, profile.text
    phone = SimulatedDevice(enrollment_type=enrollment_type)
    phone.install_profile(profile.content, http)
    phone.poll(http)
    return phone
