"""Redirect targets from request parameters: only local paths, never another host; and the page a person
comes back to after signing in, always one the app answers with GET."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

READING_METHODS = ("GET", "HEAD")


def safe_next(target: str | None, fallback: str) -> str:
    """Return ``target`` if it is a path on this site, else ``fallback`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return fallback
    return target


def _answers_get(path: str) -> bool:
    try:
        current_app.url_map.bind("localhost").match(path, method="GET")
    except RequestRedirect:  # the same page with its trailing slash
        return True
    except (MethodNotAllowed, NotFound):
        return False
    return True


def safe_page(target: str | None, fallback: str) -> str:
    """``safe_next``, and a page: a path only a form posts to (a GET of it is a 405) gives ``fallback``."""
    target = safe_next(target, fallback)
    return target if target == fallback or _answers_get(urlsplit(target).path) else fallback


def form_page(fallback: str) -> str:
    """Where the person making this request comes back to after signing in: this page for a GET; for a form's
    submission the page that showed the form: the same URL when it answers GET too, else the same-origin
    Referer, else the nearest page above the form's path (``/enroll/profile`` for ``/enroll/profile/download``),
    else ``fallback``."""
    here = request.full_path.rstrip("?")
    if request.method in READING_METHODS or _answers_get(request.path):
        return safe_next(here, fallback)
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.scheme == request.scheme:
        page = safe_page(referrer.path + (f"?{referrer.query}" if referrer.query else ""), "")
        if page:
            return page
    path = request.path.rstrip("/")
    while "/" in path.strip("/"):
        path = path.rsplit("/", 1)[0]
        if _answers_get(path):
            return path
    return fallback
