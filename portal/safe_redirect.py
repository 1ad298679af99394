"""Redirect targets from request parameters: only local paths, never another host."""
from urllib.parse import urlsplit


def safe_next(target: str | None, fallback: str) -> str:
    """Return ``target`` if it is a path on this site, else ``fallback`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return fallback
    return target
