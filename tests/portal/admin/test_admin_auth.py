from sqlalchemy import select

from portal.extensions import db
from portal.models import Admin, AuditEvent
from tests.helpers import csrf_token_from


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
        admin = db.session.scalar(select(Admin).where(Admin.email == email))
        assert admin.is_locked()


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
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
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
