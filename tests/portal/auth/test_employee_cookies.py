"""The employee's cookies carry the same flags as the admin's session cookie when PUBLIC_URL is https,
however the URL's scheme is spelt (config accepts ``HTTPS://``: URL schemes are case-insensitive)."""
from portal import create_app
from tests.helpers import TEST_SECRET, demo_sign_in


def _flags(response, name):
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


def test_employee_cookies_are_secure_when_the_public_url_is_https_in_capitals(app, database_url, tmp_path, live_port):
    https_app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "TESTING": True,
                      "PUBLIC_URL": f"HTTPS://127.0.0.1:{live_port}"})
    https_app.instance_path = str(tmp_path)
    assert https_app.config["SESSION_COOKIE_SECURE"] is True, "config reads the URL as https"
    client = https_app.test_client()
    start = client.get("/auth/login?next=/enroll")
    assert "secure" in _flags(start, "byod_oidc_flow"), "the sign-in flow cookie goes out over plain http"
    callback = demo_sign_in(client, next_path="/enroll")
    assert "secure" in _flags(callback, "byod_user_session"), "the employee session cookie goes out over plain http"
