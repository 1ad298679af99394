"""Kinds of message, and their subject, plain text and HTML in a language: an admin's version of that
kind and language when there is one, else the shipped template (``templates/mail/``, translated by gettext).

Admins' versions run in Jinja's sandbox with only the values the kind offers (``KINDS``): a misspelt or
unknown name is an error when saving, and HTML is autoescaped as in the shipped templates.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from flask import render_template
from flask_babel import force_locale
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from ..extensions import db
from ..models import MailTemplate

MAX_SUBJECT = 300
MAX_BODY = 50_000
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_STEPS = ("name", "organization", "enroll_url", "portal_url", "devices", "account_driven", "profile_driven",
          "unenroll_after_days")


@dataclass(frozen=True)
class MailKind:
    name: str
    label: str
    values: tuple[str, ...]  # what a template may use
    sample: Mapping[str, Any]  # for previews and for checking an admin's version


KINDS = {kind.name: kind for kind in (
    MailKind("test", "Test message", ("organization", "portal_url"),
             {"organization": "Example Org", "portal_url": "https://mdm.example.org/enroll"}),
    MailKind("migration_notice", "Migration notice", _STEPS,
             {"name": "Dana Example", "organization": "Example Org", "enroll_url": "https://mdm.example.org/enroll",
              "portal_url": "https://mdm.example.org/enroll", "profile_driven": True, "account_driven": True,
              "devices": [{"model": "iPhone 13", "os_version": "17.5"}], "unenroll_after_days": 14}),
    MailKind("migration_reminder", "Migration reminder", _STEPS,
             {"name": "Dana Example", "organization": "Example Org", "enroll_url": "https://mdm.example.org/enroll",
              "portal_url": "https://mdm.example.org/enroll", "profile_driven": True, "account_driven": True,
              "devices": [{"model": "iPhone 13", "os_version": "17.5"}], "unenroll_after_days": None}),
    MailKind("admin_alert", "Admin alert", ("organization", "message", "admin_url"),
             {"organization": "Example Org", "message": "The push certificate expires in 7 days.",
              "admin_url": "https://mdm.example.org/admin/"}),
)}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class TemplateProblem(ValueError):
    """An admin's version does not render; ``field`` names the part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


_sandboxes = {escape: SandboxedEnvironment(autoescape=escape, undefined=StrictUndefined) for escape in (False, True)}


@lru_cache(maxsize=64)
def _compiled(source: str, escape: bool) -> Template:
    """An admin's template compiled once (compiling costs far more than rendering: a notice to thousands
    of people renders the same few sources thousands of times). TemplateError when it does not compile."""
    return _sandboxes[escape].from_string(source)


def one_line(text: str, limit: int = MAX_SUBJECT) -> str:
    """A header-safe line: control characters and line breaks become spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


def override_for(kind: str, language: str) -> MailTemplate | None:
    return db.session.scalar(select(MailTemplate).where(MailTemplate.kind == kind, MailTemplate.language == language))


def overrides_of(kind: str) -> dict[str, MailTemplate]:
    """The admins' versions of ``kind`` by language (for rendering many messages with one query)."""
    return {t.language: t for t in db.session.scalars(select(MailTemplate).where(MailTemplate.kind == kind))}


def _render_version(subject: str, text: str, html: str, values: Mapping[str, Any]) -> Rendered:
    parts = {}
    for field, source, escape in (("subject", subject, False), ("text_body", text, False), ("html_body", html, True)):
        try:
            parts[field] = _compiled(source, escape).render(**values)
        except TemplateError as exc:
            raise TemplateProblem(field, str(exc)[:200]) from None
    return Rendered(one_line(parts["subject"]), parts["text_body"], parts["html_body"])


def check_version(kind: MailKind, subject: str, text: str, html: str) -> Rendered:
    """Render an admin's version with the kind's sample values; TemplateProblem when it cannot."""
    for field, source, limit in (("subject", subject, MAX_SUBJECT), ("text_body", text, MAX_BODY),
                                 ("html_body", html, MAX_BODY)):
        if not source.strip():
            raise TemplateProblem(field, "must not be empty")
        if len(source) > limit:
            raise TemplateProblem(field, f"must be at most {limit} characters")
    return _render_version(subject, text, html, kind.sample)


def render_default(kind: str, language: str, values: Mapping[str, Any]) -> Rendered:
    with force_locale(language):
        subject = one_line(render_template(f"mail/{kind}.subject.txt", **values))
        return Rendered(subject, render_template(f"mail/{kind}.txt", **values),
                        render_template(f"mail/{kind}.html", subject=subject, language=language, **values))


def render(kind: str, language: str, values: Mapping[str, Any],
           overrides: Mapping[str, MailTemplate] | None = None) -> Rendered:
    """The message of ``kind`` in ``language`` with ``values`` (only the kind's own are passed on);
    ``overrides``: the kind's admin versions, when the caller loaded them (``overrides_of``)."""
    offered = {name: values.get(name) for name in KINDS[kind].values}
    override = overrides.get(language) if overrides is not None else override_for(kind, language)
    if override is not None:
        try:
            return _render_version(override.subject, override.text_body, override.html_body, offered)
        except TemplateProblem:
            pass  # checked when saved; should a value it relied on be missing now, the shipped text goes out
    return render_default(kind, language, offered)
