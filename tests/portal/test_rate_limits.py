"""Rate limits: each surface refused with 429 and Retry-After at its quota, counted in the database so that
every node shares the count; the MDM check-in and command connection never limited."""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from mdm_core import account_driven as ad
from mdm_core.scep.client import build_pkcs_req, parse_cert_rep
from mdm_core.simulator.device import SimulatedDevice
from portal import create_app
from portal.config import ConfigError, load_config
from portal.extensions import db
from portal.models import RateLimitHit
from portal.models.base import utcnow
from portal.rate_limits import counter
from portal.rate_limits.guard import account_key, client_address
from portal.rate_limit_quotas import DEFAULT_QUOTAS, Quota, parse_quotas
from portal.settings_store import update_enrollment_settings
from portal.worker import Worker
from tests.helpers import TEST_SECRET, acknowledge, csrf_token_from

SCEP_CONTENT_TYPE = "application/x-pki-message"


@pytest.fixture
def node(app):
    """``node(**config)``: another app on the same database, as a second web node (or one configured otherwise)."""
    made = []

    def make(**config):
        other = create_app({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": TEST_SECRET,
                            "TESTING": True, "PUBLIC_URL": app.config["PUBLIC_URL"], **config})
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Stop the rate limits' clock a second into a window: a slow test must not cross into the next one."""
    now = counter.clock() // 3600 * 3600 + 1
    monkeypatch.setattr(counter, "clock", lambda: now)


def later(monkeypatch, seconds: float) -> None:
    """Move the rate limits' clock forward."""
    now = counter.clock()
    monkeypatch.setattr(counter, "clock", lambda: now + seconds)


def hits(app) -> dict[str, int]:
    with app.app_context():
        return dict(db.session.execute(select(RateLimitHit.key, RateLimitHit.count)).all())


def assert_refused(response, content_type: str) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["Content-Type"].startswith(content_type)


# -- admin sign-in -----------------------------------------------------------------------------------


def test_admin_sign_in_is_limited_per_account_whatever_the_address(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "ADMIN_MAX_FAILED_LOGINS", 100)  # the lock-out (five failures) would answer first
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))

    def sign_in(email, address="127.0.0.1"):
        return client.post("/admin/login", data={"email": email, "password": "guess", "csrf_token": token},
                           environ_base={"REMOTE_ADDR": address})

    for attempt in range(10):
        assert sign_in(" Nobody@Example.org" if attempt % 2 else "nobody@example.org").status_code == 401
    refused = sign_in("NOBODY@example.org", address="192.0.2.7")
    assert_refused(refused, "text/html")
    assert "Too Many Requests" in refused.get_data(as_text=True)
    assert sign_in("somebody@example.org").status_code == 401  # another account still gets an answer


def test_admin_sign_in_is_limited_per_address_before_the_form_is_checked(client, make_admin):
    email, password = make_admin()
    for attempt in range(30):  # no CSRF token: refused as forged, but counted all the same
        assert client.post("/admin/login", data={"email": f"a{attempt}@example.org"}).status_code == 400
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    refused = client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})
    assert_refused(refused, "text/html")
    other = client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token},
                        environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert other.status_code == 302


# -- employee sign-in and enrollment -----------------------------------------------------------------


def test_employee_sign_in_is_limited_per_address(client):
    for _ in range(30):
        assert client.get("/auth/login?next=/enroll/privacy").status_code == 302
    assert_refused(client.get("/auth/login?next=/enroll/privacy"), "text/html")
    assert_refused(client.get("/auth/callback?state=x&code=y"), "text/html")  # the same limit
    assert client.get("/auth/login", environ_base={"REMOTE_ADDR": "192.0.2.9"}).status_code == 302


def test_sign_in_rate_limit_page_is_in_the_employees_language(app, client, monkeypatch):
    """The 429 page is in the page's language like every other error page, so ``<html lang>`` matches the text a
    screen reader reads out (WCAG 3.1.1)."""
    monkeypatch.setitem(app.config, "RATE_LIMIT_QUOTAS", {**app.config["RATE_LIMIT_QUOTAS"],
                                                          "sign_in": {"ip": Quota(1, 60)}})
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    assert client.get("/auth/login?next=/enroll/privacy", headers=german).status_code == 302
    refused = client.get("/auth/login?next=/enroll/privacy", headers=german)
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert re.search(r'<html lang="de">', page)
    heading = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1).strip()
    assert heading == "Zu viele Anfragen", f"a German page (lang=de) titled in English: {heading!r}"
    assert "Too many requests" not in page
    assert f"Versuchen Sie es in {refused.headers['Retry-After']} Sekunde" in page  # Sekunde, Sekunden


def test_profile_downloads_are_limited_per_managed_apple_id(employee):
    acknowledge(employee)
    token = csrf_token_from(employee.get("/enroll/profile").get_data(as_text=True))
    for _ in range(10):
        assert employee.post("/enroll/profile/download", data={"csrf_token": token}).status_code == 200
    refused = employee.post("/enroll/profile/download", data={"csrf_token": token},
                            environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert_refused(refused, "text/html")


# -- account-driven enrollment ------------------------------------------------------------------------


def test_account_driven_discovery_and_enrollment_are_limited_per_address(app, client):
    with app.app_context():
        update_enrollment_settings({"account_driven_enabled": True, "managed_domains": ["example.org"]})
        db.session.commit()
    body = ad.request_body("en-US", "iPhone17,2", "22B83")
    for _ in range(15):
        assert client.get(f"{ad.DISCOVERY_PATH}?user-identifier=alice@example.org").status_code == 200
        assert client.post("/account-driven/enroll", data=body).status_code == 401
    refused = client.post("/account-driven/enroll", data=body)
    assert_refused(refused, "text/plain")
    discovery = client.get(f"{ad.DISCOVERY_PATH}?user-identifier=alice@example.org")
    assert_refused(discovery, "application/json")
    assert discovery.get_json()["error"] == "too_many_requests"


# -- API token authentication -------------------------------------------------------------------------


def test_failed_api_token_authentication_is_limited_per_address_and_costs_a_good_token_nothing(app, client,
                                                                                               api_token):
    for attempt in range(20):
        headers = {"Authorization": f"Bearer bmdm_wrong{attempt}"} if attempt % 2 else {}
        assert client.get("/api/v1/devices", headers=headers).status_code == 401
    refused = client.get("/api/v1/devices", headers={"Authorization": "Bearer bmdm_wrong"})
    assert_refused(refused, "application/json")
    assert refused.get_json()["error"] == "too_many_requests"
    counted = hits(app)
    good = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {api_token()}"})
    assert good.status_code == 200  # only failures are limited, and success counts nothing
    assert hits(app) == counted


def test_two_nodes_share_the_count(app, node):
    clients = [app.test_client(), node().test_client()]
    for attempt in range(20):
        assert clients[attempt % 2].get("/api/v1/devices").status_code == 401
    for each in clients:
        assert_refused(each.get("/api/v1/devices"), "application/json")


def test_the_window_resets(client, monkeypatch):
    for _ in range(20):
        client.get("/api/v1/devices")
    refused = client.get("/api/v1/devices")
    assert refused.status_code == 429
    later(monkeypatch, int(refused.headers["Retry-After"]))
    assert client.get("/api/v1/devices").status_code == 401


# -- SCEP ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scep_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def scep_request(http, key, challenge: str):
    ca = x509.load_der_x509_certificate(http.get("/scep", params={"operation": "GetCACert"}).content)
    request = build_pkcs_req(private_key=key, subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")]),
                             challenge=challenge, ca_certificate=ca)
    response = http.post("/scep", params={"operation": "PKIOperation"}, content=request.message,
                         headers={"Content-Type": SCEP_CONTENT_TYPE})
    return response, request, ca


def minted_challenge(http, api_token) -> str:
    profile = http.post("/api/v1/enrollment-profiles", headers={"Authorization": f"Bearer {api_token()}"},
                        json={"enrollment_type": "user", "managed_apple_id": "alice@example.org"}).content
    return SimulatedDevice().accept_profile(profile).identity.challenge


def test_wrong_scep_challenges_close_scep_for_the_address_until_the_window_ends(device_http, api_token, scep_key,
                                                                                 monkeypatch):
    for _ in range(5):
        response, _, _ = scep_request(device_http, scep_key, "wrong")
        assert response.status_code == 200 and response.headers["Content-Type"] == SCEP_CONTENT_TYPE  # a FAILURE
    response, _, _ = scep_request(device_http, scep_key, "wrong")
    assert_refused(response, "text/plain")
    challenge = minted_challenge(device_http, api_token)
    response, _, _ = scep_request(device_http, scep_key, challenge)
    assert_refused(response, "text/plain")  # closed: even a right challenge waits, and is not used up
    later(monkeypatch, 60)
    response, request, ca = scep_request(device_http, scep_key, challenge)
    assert response.status_code == 200
    assert parse_cert_rep(response.content, request, ca).public_key() == scep_key.public_key()


def test_scep_is_limited_per_address_on_pki_operations_only(node, scep_key):
    import httpx

    other = node(RATE_LIMITS="scep.ip=2/60")
    with httpx.Client(transport=httpx.WSGITransport(app=other), base_url=other.config["PUBLIC_URL"]) as http:
        for _ in range(2):
            assert scep_request(http, scep_key, "wrong")[0].status_code == 200
        assert_refused(scep_request(http, scep_key, "wrong")[0], "text/plain")
        assert http.get("/scep", params={"operation": "GetCACaps"}).status_code == 200


# -- never the MDM hot path ---------------------------------------------------------------------------


def test_check_in_and_command_connection_are_never_counted(app, enroll, device_http):
    phone = enroll()
    before = hits(app)
    for _ in range(40):
        assert phone.checkin(phone.token_update_message(), device_http).status_code == 200
        phone.poll(device_http)
    assert hits(app) == before


# -- the counter --------------------------------------------------------------------------------------


def test_concurrent_increments_count_exactly(app):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite writes one statement at a time; contending threads only wait out its busy timeout")
    quota, threads, each = Quota(100, 3600), 8, 25
    refused = []

    def work():
        with app.app_context():
            for _ in range(each):
                if counter.count([counter.Hit("test:ip:concurrent", quota)]) is not None:
                    refused.append(1)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert hits(app) == {"test:ip:concurrent": threads * each}
    assert len(refused) == threads * each - quota.count


def test_the_worker_purges_ended_windows(app):
    with app.app_context():
        db.session.add_all([RateLimitHit(key="old", resets_at=utcnow() - timedelta(seconds=1), count=3),
                            RateLimitHit(key="current", resets_at=utcnow() + timedelta(seconds=30), count=1)])
        db.session.commit()
    worker = Worker(app)
    try:
        worker.run_once()
    finally:
        worker.close()
    assert hits(app) == {"current": 1}


def test_addresses_and_accounts_as_keys(app):
    def address(remote):
        with app.test_request_context(environ_base={"REMOTE_ADDR": remote}):
            return client_address()

    assert address("2001:db8::1") == address("2001:db8::ffff:1") == "2001:db8::/64"
    assert address("2001:db8:0:1::1") == "2001:db8:0:1::/64"
    assert address("::ffff:192.0.2.1") == address("192.0.2.1") == "192.0.2.1"
    assert account_key(" Alice@Example.ORG ") == "alice@example.org"
    assert account_key("   ") is None
    assert account_key("a" * 300).startswith("sha256:") and len(account_key("a" * 300)) == 71


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(node):
    proxied = node(TRUSTED_PROXY_COUNT=1, RATE_LIMITS="sign_in.ip=1/60").test_client()
    assert proxied.get("/auth/login", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 302
    assert proxied.get("/auth/login", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 429
    assert proxied.get("/auth/login", headers={"X-Forwarded-For": "203.0.113.6"}).status_code == 302
    direct = node(RATE_LIMITS="sign_in.ip=1/60").test_client()
    assert direct.get("/auth/login", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 302
    assert direct.get("/auth/login", headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 429


# -- configuration ------------------------------------------------------------------------------------


def test_rate_limits_setting_changes_and_turns_off_quotas():
    problems = []
    quotas = parse_quotas(" admin_sign_in.account=3/120 , scep.ip=off,", problems)
    assert problems == []
    assert quotas["admin_sign_in"] == {"ip": DEFAULT_QUOTAS["admin_sign_in"]["ip"], "account": Quota(3, 120)}
    assert quotas["scep"] == {}
    assert DEFAULT_QUOTAS["scep"] == {"ip": Quota(30, 60)}  # the defaults stay as they were


@pytest.mark.parametrize("entry", ["nothing.ip=1/60", "scep.everyone=1/60", "scep.ip=0/60", "scep.ip=5",
                                   "scep.ip=5/0", "scep.ip=five/60", "scep.ip=1/99999999"])
def test_a_bad_rate_limits_setting_stops_the_start_with_a_clear_message(tmp_path, entry):
    with pytest.raises(ConfigError, match="RATE_LIMITS entry"):
        load_config({"RATE_LIMITS": entry}, tmp_path)
