"""Flask-Babel and the one rule for which language a request is answered in.

The phone's own language comes first (the account-driven request's ``LANGUAGE``, which a view
puts on ``g.request_language``), then the browser's ``Accept-Language``, then the organisation's
default language (``EnrollmentSettings.default_language``), then English. Catalogues live in
``portal/translations/`` (``babel.cfg``; commands in docs/decisions.md and the Makefile).
"""
from __future__ import annotations

from flask import Flask, g, has_request_context, request
from flask_babel import Babel, format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import Setting

LANGUAGES = ("en", "de", "fr", "es", "ja")
DEFAULT_LANGUAGE = "en"
DEFAULT_LANGUAGE_KEY = "enrollment.default_language"  # EnrollmentSettings.default_language

babel = Babel()
#: Blueprints answered in English whatever the browser asks: administrators work in English (issue 21), and the demo
#: identity provider's pages are written in English only, so ``<html lang>`` must say "en" there too.
ENGLISH_BLUEPRINTS = ("admin", "api", "demo_idp")

#: A device's status as the employee's pages name it (the stored value stays the English code).
DEVICE_STATUS = {"enrolled": _l("enrolled"), "pending": _l("pending"),
                 "unenrolled": _l("unenrolled"), "imported": _l("imported")}


def supported(language: str | None) -> str | None:
    """The shipped language ``language`` (``ja-JP``, ``de_CH``, ``FR``) asks for, or None."""
    if not language:
        return None
    base = language.replace("_", "-").split("-")[0].strip().lower()
    return base if base in LANGUAGES else None


def organization_language() -> str:
    """The organisation's default language setting, or English when unset or not shipped."""
    try:
        row = db.session.get(Setting, DEFAULT_LANGUAGE_KEY)
    except SQLAlchemyError:  # an error page must still render when the database cannot answer: in English
        db.session.rollback()
        return DEFAULT_LANGUAGE
    return supported(row.value if row is not None and isinstance(row.value, str) else None) or DEFAULT_LANGUAGE


def select_locale() -> str:
    """The language this request is answered in (Flask-Babel's locale selector)."""
    if has_request_context():
        if request.blueprint in ENGLISH_BLUEPRINTS:
            return DEFAULT_LANGUAGE
        requested = supported(g.get("request_language")) or browser_language()
        if requested:
            return requested
    return organization_language()


def browser_language() -> str | None:
    """The first shipped language of the request's ``Accept-Language``, by preference, each tag by its primary
    language (Werkzeug's best_match prefers a later exact match: "de-AT, en;q=0.5" would give English)."""
    for tag, _ in request.accept_languages:
        if from_browser := supported(tag):
            return from_browser
    return None


def current_language() -> str:
    """The language this request's pages are in (the locale Flask-Babel selected), for ``<html lang>``."""
    return str(get_locale() or DEFAULT_LANGUAGE)


def _device_status(status: str):
    return DEVICE_STATUS.get(status, status)


def moment(value, with_time: bool = True) -> str:
    """A stored time as the reader's language writes it, in UTC; English (and every admin page) keeps the
    ISO-like form the admin pages always showed."""
    if current_language() == DEFAULT_LANGUAGE:
        return value.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")
    return f"{format_datetime(value, 'medium')} UTC" if with_time else format_date(value, "medium")


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
    # globals rather than a context processor: the database-outage page renders without those
    app.jinja_env.globals.update(current_language=current_language, format_date=format_date,
                                 format_datetime=format_datetime, device_status=_device_status, moment=moment)
