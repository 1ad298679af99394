"""Flask-Babel and the one rule for which language a request is answered in.

The phone's own language comes first (the account-driven request's ``LANGUAGE``, which a view
puts on ``g.request_language``), then the browser's ``Accept-Language``, then the organisation's
default language (``EnrollmentSettings.default_language``), then English. Catalogues live in
``portal/translations/`` (``babel.cfg``; commands in docs/decisions.md and the Makefile).
"""
from __future__ import annotations

from flask import Flask, g, has_request_context, request
from flask_babel import Babel

from .extensions import db
from .models import Setting

LANGUAGES = ("en", "de", "fr", "es", "ja")
DEFAULT_LANGUAGE = "en"
DEFAULT_LANGUAGE_KEY = "enrollment.default_language"  # EnrollmentSettings.default_language

babel = Babel()


def supported(language: str | None) -> str | None:
    """The shipped language ``language`` (``ja-JP``, ``de_CH``, ``FR``) asks for, or None."""
    if not language:
        return None
    base = language.replace("_", "-").split("-")[0].strip().lower()
    return base if base in LANGUAGES else None


def organization_language() -> str:
    """The organisation's default language setting, or English when unset or not shipped."""
    row = db.session.get(Setting, DEFAULT_LANGUAGE_KEY)
    return supported(row.value if row is not None and isinstance(row.value, str) else None) or DEFAULT_LANGUAGE


def select_locale() -> str:
    """The language this request is answered in (Flask-Babel's locale selector)."""
    if has_request_context():
        from_device = supported(g.get("request_language"))
        if from_device:
            return from_device
        # by preference, each tag by its primary language (Werkzeug's best_match prefers a later exact
        # match: "de-AT, en;q=0.5" would give English)
        for tag, _ in request.accept_languages:
            if from_browser := supported(tag):
                return from_browser
    return organization_language()


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
