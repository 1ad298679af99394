"""App Store icons, fetched on the server for the console: the pages' policy (``img-src 'self' data:``) lets a
browser load no image from another origin, and the lookup gives each app's icon as Apple's artwork URL.

Not a proxy: only the URL the catalogue stored for an app is fetched, only over https, only from Apple's artwork
hosts (``isN-ssl.mzstatic.com``, which the lookup and the Apps and Books stand-in name) or the host of the
configured ``ITUNES_LOOKUP_URL``, without following redirects, within a few seconds and a size bound, and only an
image comes back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from flask import current_app

ARTWORK_HOST = re.compile(r"is\d{1,2}-ssl\.mzstatic\.com")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_ICON_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Icon:
    content: bytes
    content_type: str


def allowed(url: str | None) -> bool:
    """Whether ``url`` is one the server may fetch an icon from."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or parts.username or parts.password or port not in (None, 443):
        return False
    lookup = current_app.config.get("ITUNES_LOOKUP_URL")
    lookup_host = (urlsplit(lookup).hostname or "").lower() if lookup else ""
    return bool(ARTWORK_HOST.fullmatch(host)) or (bool(lookup_host) and host == lookup_host)


def fetch(url: str | None) -> Icon | None:
    """The image at ``url`` when it is allowed and answers with one, else None."""
    if not allowed(url):
        return None
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
            with http.stream("GET", url, headers={"Accept": ", ".join(IMAGE_TYPES)}) as response:
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if response.status_code != 200 or content_type not in IMAGE_TYPES:
                    return None
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ICON_BYTES:
                        return None
    except httpx.HTTPError:
        return None
    return Icon(bytes(body), content_type)
