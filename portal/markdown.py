"""Markdown from admins, rendered inert: no raw HTML, no images, links only to http(s), mailto and local paths."""
from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

SAFE_SCHEMES = ("http:", "https:", "mailto:")


def _safe_link(url: str) -> bool:
    lowered = url.strip().lower()
    if lowered.startswith("//"):
        return False
    if ":" not in lowered.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
        return True  # relative: path, query or fragment
    return lowered.startswith(SAFE_SCHEMES)


_renderer = MarkdownIt("commonmark", {"html": False}).disable("image")  # images would load from elsewhere
_renderer.validateLink = _safe_link


def render_markdown(text: str) -> Markup:
    """HTML for ``text``; raw HTML in it is escaped and unsafe links stay plain text."""
    return Markup(_renderer.render(text or ""))
