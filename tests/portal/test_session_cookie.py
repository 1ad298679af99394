"""Sessions open only for requests that carry a cookie; signed-in admins keep theirs."""
from portal.session_cookie import CookieOnDemandSessionInterface


def test_request_without_cookie_gets_an_empty_session_and_sets_no_cookie(app, client):
    assert isinstance(app.session_interface, CookieOnDemandSessionInterface)
    assert app.session_interface.open_session(app, app.request_class({"REQUEST_METHOD": "GET"})) == {}
    assert "Set-Cookie" not in client.get("/healthz").headers


def test_signed_in_admin_session_is_read_from_its_cookie(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200, "the session cookie set at sign-in is read back"
