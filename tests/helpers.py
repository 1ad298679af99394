"""Plain helper functions shared by test modules (fixtures live in the conftest files).

Test modules import these from here, never from a conftest or from another test module, so that
pytest imports each conftest and each test module only once, as itself."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Command

REPO = Path(__file__).resolve().parents[1]
PROFILE_CORPUS = REPO / "tests" / "data" / "profiles"  # real-world .mobileconfig shapes, README.md lists verdicts
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
IOS17 = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1")


def csrf_token_from(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def command_count(app) -> int:
    """Commands in the queue, of every device: what a refused request must not have added to."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Command))


def page_statements(app, client, path: str) -> list[str]:
    """The SQL statements a GET of ``path`` runs (it must answer 200): a list page's count must not grow with rows."""
    from sqlalchemy import event

    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert response.status_code == 200, (path, response.status_code)
    return statements


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def demo_sign_in(client, user: str = "demo-alice", next_path: str = "/enroll/privacy", action: str = "sign_in"):
    """Start sign-in, pick a demo person at the demo IdP, and follow the callback; returns the callback response."""
    start = client.get(f"/auth/login?next={next_path}")
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize = local_path(start.location)
    form = client.get(authorize)
    response = client.post(authorize, data={"csrf_token": csrf_token_from(form.get_data(as_text=True)),
                                            "user": user, "action": action})
    assert response.status_code == 302
    return client.get(local_path(response.location))


def acknowledge(client):
    """Post the privacy form of ``/enroll/privacy`` as the signed-in employee, box ticked."""
    page = client.get("/enroll/privacy").get_data(as_text=True)
    version = re.search(r'name="version" value="([^"]+)"', page).group(1)
    return client.post("/enroll/privacy", data={"csrf_token": csrf_token_from(page), "version": version,
                                                "acknowledge": "yes"})
