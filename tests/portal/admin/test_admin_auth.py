import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Admin, AdminLoginFailures, AuditEvent
from portal.models.base import utcnow
from tests.helpers import csrf_token_from


@pytest.fixture(autouse=True)
def no_sign_in_rate_limit(app, monkeypatch):
    """These tests count the lock-out's answers; the sign-in rate limit (tests/portal/test_rate_limits.py)
    would answer 429 first after ten attempts a minute."""
    monkeypatch.setitem(app.config, "RATE_LIMIT_QUOTAS", {**app.config["RATE_LIMIT_QUOTAS"], "admin_sign_in": {}})


def _login(client, email, password):
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})


def test_admin_signs_in_and_reaches_dashboard(client, make_admin):
    email, password = make_admin()
    response = _login(client, email, password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200 and "Dashboard" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_wrong_password_is_refused_and_audited(app, client, make_admin):
    email, _ = make_admin()
    response = _login(client, email, "wrong password here")
    assert response.status_code == 401
    assert "Email or password is wrong" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302, "still signed out"
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "admin.login_failed" in actions


def test_unknown_email_gets_the_same_answer(client):
    response = _login(client, "nobody@example.org", "whatever password")
    assert response.status_code == 401


def test_repeated_failures_lock_the_account_even_for_the_right_password(app, client, make_admin):
    email, password = make_admin()
    for _ in range(app.config["ADMIN_MAX_FAILED_LOGINS"]):
        assert _login(client, email, "wrong password").status_code == 401
    response = _login(client, email, password)
    assert response.status_code == 429
    assert "locked" in response.get_data(as_text=True)
    with app.app_context():
        failures = db.session.get(AdminLoginFailures, email)
        assert failures.locked_until > utcnow()


def test_form_post_without_csrf_token_is_refused(client, make_admin):
    email, password = make_admin()
    response = client.post("/admin/login", data={"email": email, "password": password})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_logout_requires_post_with_csrf_and_ends_the_session(admin_client):
    assert admin_client.post("/admin/logout").status_code == 400
    token = csrf_token_from(admin_client.get("/admin/").get_data(as_text=True))
    assert admin_client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert admin_client.get("/admin/").status_code == 302


def test_a_copy_of_the_session_cookie_stops_working_after_logout(app, admin_client):
    name = app.config["SESSION_COOKIE_NAME"]
    token = csrf_token_from(admin_client.get("/admin/").get_data(as_text=True))
    copied = admin_client.get_cookie(name).value
    assert admin_client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    admin_client.set_cookie(name, copied)
    assert admin_client.get("/admin/").status_code == 302


def test_password_reset_signs_out_existing_sessions(admin_client, make_admin):
    make_admin(password="a brand new password")
    assert admin_client.get("/admin/").status_code == 302


def test_open_redirect_through_next_is_impossible(client, make_admin):
    email, password = make_admin()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
        response = client.post(f"/admin/login?next={target}", data={"email": email, "password": password, "csrf_token": token})
        assert response.status_code == 302
        assert response.headers["Location"] == "/admin/", target
        client.get("/admin/")


def test_dashboard_requires_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_password_is_stored_as_argon2_hash(app, make_admin):
    email, password = make_admin()
    with app.app_context():
        admin = db.session.scalar(select(Admin).where(Admin.email == email))
        assert admin.password_hash.startswith("$argon2id$") and password not in admin.password_hash


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_known_and_unknown_emails_answer_alike_401_then_429(app, client, make_admin, known):
    email = make_admin()[0] if known else "nobody@example.org"
    answers = [_login(client, email, "wrong password") for _ in range(app.config["ADMIN_MAX_FAILED_LOGINS"] + 2)]
    assert [r.status_code for r in answers] == [401] * app.config["ADMIN_MAX_FAILED_LOGINS"] + [429, 429]
    assert "locked" in answers[-1].get_data(as_text=True)


def test_an_unknown_email_spends_a_password_check_like_a_known_one(client, make_admin, count_password_checks):
    email, _ = make_admin()
    _login(client, email, "wrong password")
    _login(client, "nobody@example.org", "wrong password")
    assert count_password_checks() == 2


@pytest.fixture
def count_password_checks(monkeypatch):
    """Counts real argon2 verifications (known admins and the dummy hash of unknown e-mails alike)."""
    from portal.models import admin as admin_module

    real, calls, lock = admin_module._hasher, [], threading.Lock()

    class CountingHasher:
        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, hash_, password):
            with lock:
                calls.append(1)
            return real.verify(hash_, password)

    monkeypatch.setattr(admin_module, "_hasher", CountingHasher())
    return lambda: len(calls)


def test_parallel_wrong_passwords_get_at_most_the_limit_of_password_checks(app, make_admin, count_password_checks):
    email, _ = make_admin()
    attempts = 30
    clients = [app.test_client() for _ in range(attempts)]
    tokens = [csrf_token_from(c.get("/admin/login").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(attempts)

    def attempt(index):
        start.wait()
        return clients[index].post("/admin/login", data={"email": email, "password": "wrong password",
                                                         "csrf_token": tokens[index]}).status_code

    with ThreadPoolExecutor(attempts) as pool:
        statuses = list(pool.map(attempt, range(attempts)))
    limit = app.config["ADMIN_MAX_FAILED_LOGINS"]
    assert count_password_checks() <= limit
    assert statuses.count(401) == limit and statuses.count(429) == attempts - limit


def test_the_right_password_starts_the_count_again(app, client, make_admin):
    email, password = make_admin()
    for _ in range(app.config["ADMIN_MAX_FAILED_LOGINS"] - 1):
        assert _login(client, email, "wrong password").status_code == 401
    assert _login(client, email, password).status_code == 302
    client.get("/admin/")
    for _ in range(app.config["ADMIN_MAX_FAILED_LOGINS"] - 1):
        assert _login(client, email, "wrong password").status_code == 401
    assert _login(client, email, password).status_code == 302


def test_the_lock_ends_after_the_lockout_period(app, client, make_admin):
    email, password = make_admin()
    for _ in range(app.config["ADMIN_MAX_FAILED_LOGINS"]):
        _login(client, email, "wrong password")
    assert _login(client, email, password).status_code == 429
    past = utcnow() - timedelta(seconds=app.config["ADMIN_LOCKOUT_SECONDS"] + 1)
    with app.app_context():
        db.session.execute(update(AdminLoginFailures).values(last_attempt_at=past, locked_until=past))
        db.session.commit()
    assert _login(client, email, password).status_code == 302


def test_a_password_reset_ends_the_lock_out(app, client, make_admin):
    email, _ = make_admin()
    for _ in range(app.config["ADMIN_MAX_FAILED_LOGINS"]):
        _login(client, email, "wrong password")
    _, password = make_admin(password="a reset password for you")
    assert _login(client, email, password).status_code == 302


def test_an_overlong_lowercased_email_is_refused_cleanly(client):
    assert _login(client, "\u0130" * 300 + "@example.org", "wrong password").status_code == 401


def test_the_login_pages_csrf_token_stops_working_after_sign_in(client, make_admin):
    email, password = make_admin()
    before = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    assert client.post("/admin/login", data={"email": email, "password": password, "csrf_token": before}).status_code == 302
    assert client.post("/admin/logout", data={"csrf_token": before}).status_code == 400
    assert client.get("/admin/").status_code == 200, "still signed in: the forged sign-out was refused"
    after = csrf_token_from(client.get("/admin/").get_data(as_text=True))
    assert after != before
    assert client.post("/admin/logout", data={"csrf_token": after}).status_code == 302


def test_signing_in_again_after_a_refused_form_lands_on_a_working_page(admin_client, make_admin):
    """An admin whose session ended (eight hours, a sign-out elsewhere, a password reset) and who then submits
    a console form comes back, signed in again, to the page that showed it, not to its POST-only path (405)."""
    token = csrf_token_from(admin_client.get("/admin/alerts").get_data(as_text=True))
    email, password = make_admin()  # a password reset elsewhere ends this session
    refused = admin_client.post("/admin/alerts/preferences", data={"csrf_token": token})
    assert refused.status_code == 302 and "/admin/login" in refused.location
    page = admin_client.get(refused.location)
    signed = admin_client.post(refused.location, data={"email": email, "password": password,
                                                       "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert signed.status_code == 302
    landing = admin_client.get(signed.location)
    assert landing.status_code == 200, f"signed in again, the admin lands on {signed.location}: {landing.status_code}"


def test_a_refused_form_comes_back_to_the_page_that_showed_it_never_to_another_site(admin_client, make_admin):
    token = csrf_token_from(admin_client.get("/admin/alerts").get_data(as_text=True))
    make_admin()  # the session ends
    shown_on = admin_client.post("/admin/alerts/preferences", data={"csrf_token": token},
                                 headers={"Referer": "http://localhost/admin/devices?q=x"})
    assert shown_on.location == "/admin/login?next=/admin/devices?q%3Dx"
    for referer in ("https://evil.example/admin/devices", "http://localhost/admin/logout"):  # elsewhere; POST-only
        refused = admin_client.post("/admin/alerts/preferences", data={"csrf_token": token}, headers={"Referer": referer})
        assert refused.location == "/admin/login?next=/admin/alerts", referer


def _sign_in(client, email, password):
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})


def test_a_disabled_admin_is_signed_out_everywhere_and_cannot_sign_in_until_a_new_password(app, runner, client,
                                                                                           make_admin):
    email, password = make_admin("ops@example.org")
    assert _sign_in(client, email, password).status_code == 302 and client.get("/admin/").status_code == 200
    result = runner.invoke(args=["disable-admin", "OPS@example.org"])
    assert result.exit_code == 0 and "ops@example.org is disabled" in result.output
    assert client.get("/admin/").status_code == 302, "the disabled admin's session ended"
    assert _sign_in(client, email, password).status_code == 401, "the right password no longer signs in"
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "admin.disabled"))
        assert (event.actor_type, event.actor, event.target_id) == ("system", "cli", email)
    assert runner.invoke(args=["create-admin", email, "--password", "a brand new password"]).exit_code == 0
    assert _sign_in(client, email, "a brand new password").status_code == 302, "create-admin enables again"
    assert client.get("/admin/").status_code == 200


def test_a_disabled_admins_session_is_refused_whatever_its_version(app, make_admin):
    from portal.admin.auth import load_admin

    make_admin()
    with app.app_context():
        admin = db.session.scalar(select(Admin))
        session_id = admin.get_id()
        admin.password_hash = "!" + admin.password_hash  # disabled by the mark alone
        db.session.commit()
        assert admin.disabled and load_admin(session_id) is None


def test_disabling_an_unknown_admin_says_so(runner):
    result = runner.invoke(args=["disable-admin", "nobody@example.org"])
    assert result.exit_code == 1 and "no admin has the e-mail" in result.output
