"""One app's page: what its settings form refuses."""
import re

import httpx
import pytest

from portal.apps import icons
from portal.extensions import db
from portal.models import App
from portal.security_headers import CONTENT_SECURITY_POLICY
from tests.helpers import PROFILE_CORPUS, in_house_app, post_form


@pytest.mark.parametrize("vpn_profile_id", ["9223372036854775808", "99999999999999999999", "\u00b2", "abc"])
def test_a_vpn_profile_id_that_is_no_id_is_a_form_error(api, admin_client, vpn_profile_id):
    """Digits past 64 bits overflowed the lookup and "²" (a digit to isdigit(), not to int()) raised: a 500;
    other text was taken for "none" and silently removed the app's VPN."""
    app_id = in_house_app(api)
    path = f"/admin/apps/{app_id}"
    response = post_form(admin_client, path, {"name": "B", "bundle_id": "org.example.a",
                                              "vpn_profile_id": vpn_profile_id}, page=path)
    assert response.status_code == 422
    assert "Refused: no profile" in response.get_data(as_text=True)
    assert api("GET", f"/apps/{app_id}").get_json()["name"] == "A", "nothing saved"


def test_the_per_app_vpn_chosen_on_the_page_is_saved_and_none_removes_it(api, admin_client):
    vpn = api("POST", "/profiles", data=(PROFILE_CORPUS / "per-app-vpn.mobileconfig").read_bytes()).get_json()["id"]
    app_id = in_house_app(api)
    path = f"/admin/apps/{app_id}"
    for chosen, saved in ((str(vpn), vpn), ("", None)):
        response = post_form(admin_client, path, {"name": "A", "bundle_id": "org.example.a", "vpn_profile_id": chosen},
                             page=path)
        assert response.status_code == 303
        assert api("GET", f"/apps/{app_id}").get_json()["vpn_profile_id"] == saved


def _allowed_by_img_src(url: str) -> bool:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    sources = directives.get("img-src", directives["default-src"]).split()
    if url.startswith("data:"):
        return "data:" in sources
    if url.startswith("/") and not url.startswith("//"):
        return "'self'" in sources
    return any(url.startswith(source.rstrip("*")) for source in sources if source.startswith("https://"))


def test_the_app_pages_icon_is_one_the_policy_lets_load(app, api, admin_client):
    """The App Store lookup stores each app's icon as Apple's https artwork URL; the policy's ``img-src 'self'
    data:`` blocked it, so the app page's icon was always a broken image."""
    app_id = in_house_app(api)
    with app.app_context():  # what the App Store lookup stores (portal/apps/catalogue.py: artworkUrl512)
        db.session.get(App, app_id).icon_url = "https://is1-ssl.mzstatic.com/image/thumb/Purple/icon/512x512bb.jpg"
        db.session.commit()
    response = admin_client.get(f"/admin/apps/{app_id}")
    assert response.status_code == 200
    images = re.findall(r'<img[^>]*\ssrc="([^"]+)"', response.get_data(as_text=True))
    assert images, "the page shows the app's icon"
    blocked = [src for src in images if not _allowed_by_img_src(src.replace("&amp;", "&"))]
    assert not blocked, f"{response.headers['Content-Security-Policy']!r} blocks {blocked}"


def _with_icon(app, api, url: str) -> int:
    app_id = in_house_app(api)
    with app.app_context():
        db.session.get(App, app_id).icon_url = url
        db.session.commit()
    return app_id


def _serving(monkeypatch, handler) -> list[str]:
    """The artwork host answers with ``handler``; returns the URLs the server fetched."""
    fetched: list[str] = []

    def answer(request):
        fetched.append(str(request.url))
        return handler(request)

    real_client = httpx.Client
    monkeypatch.setattr(icons.httpx, "Client", lambda **kw: real_client(transport=httpx.MockTransport(answer), **kw))
    return fetched


def test_the_icon_comes_from_the_apple_artwork_host_through_this_origin(app, api, admin_client, monkeypatch):
    url = "https://is1-ssl.mzstatic.com/image/thumb/Purple/icon/512x512bb.jpg"
    fetched = _serving(monkeypatch, lambda request: httpx.Response(200, content=b"\xff\xd8jpeg",
                                                                   headers={"Content-Type": "image/jpeg"}))
    response = admin_client.get(f"/admin/apps/{_with_icon(app, api, url)}/icon")
    assert response.status_code == 200 and response.data == b"\xff\xd8jpeg"
    assert response.content_type == "image/jpeg" and response.headers["Cache-Control"] == "private, max-age=86400"
    assert fetched == [url]


@pytest.mark.parametrize("url", ["https://169.254.169.254/latest/meta-data/", "http://is1-ssl.mzstatic.com/a.jpg",
                                 "https://is1-ssl.mzstatic.com.evil.example/a.jpg",
                                 "https://user@is1-ssl.mzstatic.com/a.jpg", "https://is1-ssl.mzstatic.com:8443/a.jpg"])
def test_the_server_fetches_no_icon_from_anywhere_else(app, api, admin_client, monkeypatch, url):
    fetched = _serving(monkeypatch, lambda request: httpx.Response(200, content=b"x", headers={"Content-Type": "image/png"}))
    assert admin_client.get(f"/admin/apps/{_with_icon(app, api, url)}/icon").status_code == 404
    assert fetched == []


@pytest.mark.parametrize("answer", [
    httpx.Response(200, content=b"<html>", headers={"Content-Type": "text/html"}),
    httpx.Response(302, headers={"Location": "https://169.254.169.254/"}),
    httpx.Response(200, content=b"x" * (icons.MAX_ICON_BYTES + 1), headers={"Content-Type": "image/png"}),
    httpx.Response(404)])
def test_what_is_no_bounded_image_is_no_icon(app, api, admin_client, monkeypatch, answer):
    url = "https://is2-ssl.mzstatic.com/image/icon.png"
    _serving(monkeypatch, lambda request: answer)
    assert admin_client.get(f"/admin/apps/{_with_icon(app, api, url)}/icon").status_code == 404


def test_the_icon_needs_an_admin(app, api, client):
    assert client.get("/admin/apps/1/icon").status_code == 302
