"""Queueing mail: one outbox row per message, rendered and written in the caller's transaction."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import insert

from .. import audit
from ..database.upsert import insert_once
from ..extensions import db
from ..i18n import organization_language, supported
from ..settings_store import organization_name
from ..models import EndUser, MailOutbox
from ..models.base import utcnow
from .templates import Rendered, one_line, overrides_of, render



def language_of(user: EndUser | None, default: str | None = None) -> str:
    """The person's language (from their last sign-in), else ``default`` or the organisation's."""
    return supported(user.language if user is not None else None) or default or organization_language()


def public_link(path: str) -> str:
    """An absolute link into the portal: mail is read far from any request."""
    return current_app.config["PUBLIC_URL"] + path


def new_message_id() -> str:
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"
    return f"<{uuid.uuid4().hex}@{host}>"


@dataclass(frozen=True)
class Letter:
    """One message to queue: to whom, in which language, with which values."""

    to_address: str
    language: str
    values: Mapping[str, Any]
    to_name: str | None = None


def _row(kind: str, message: Rendered, to_address: str, language: str, now, to_name: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "message_id": new_message_id(), "to_address": to_address,
            "to_name": one_line(to_name, 255) if to_name else None, "language": language,
            "subject": message.subject, "text_body": message.text, "html_body": message.html, "attempts": 0,
            "next_attempt_at": now, "created_at": now}


def queue(kind: str, to_address: str, *, language: str, values: Mapping[str, Any], to_name: str | None = None,
          dedupe_key: str | None = None) -> int | None:
    """Render and queue one message; returns its outbox id, or None when ``dedupe_key`` was queued before.

    The caller commits: the message exists exactly when what it tells of does.
    """
    table = MailOutbox.__table__
    row = _row(kind, render(kind, language, values), to_address, language, utcnow(), to_name) | {"dedupe_key": dedupe_key}
    return db.session.execute(insert_once(table, row, [table.c.dedupe_key]).returning(table.c.id)).scalar()


def queue_copies(kind: str, recipients: list[tuple[str, str]], *, language: str, values: Mapping[str, Any]) -> list[int]:
    """Render one message and queue a copy to each ``(address, dedupe_key)`` whose key was not queued before,
    in one statement; returns the new outbox ids. The caller commits."""
    if not recipients:
        return []
    table = MailOutbox.__table__
    message, now = render(kind, language, values), utcnow()
    rows = [_row(kind, message, address, language, now) | {"dedupe_key": key} for address, key in recipients]
    return list(db.session.execute(insert_once(table, rows, [table.c.dedupe_key]).returning(table.c.id)).scalars())


def queue_many(kind: str, letters: list[Letter]) -> list[int]:
    """Render and queue many messages of one kind in one statement; returns their outbox ids in order.
    The caller commits."""
    if not letters:
        return []
    overrides, now = overrides_of(kind), utcnow()
    table = MailOutbox.__table__
    rows = [_row(kind, render(kind, letter.language, letter.values, overrides), letter.to_address, letter.language, now,
                 letter.to_name) | {"dedupe_key": None} for letter in letters]
    # matched by message id rather than ``sort_by_parameter_order``, which SQLite can only keep one row at a time
    ids = dict(db.session.execute(insert(table).returning(table.c.message_id, table.c.id), rows).all())
    return [ids[row["message_id"]] for row in rows]


def queue_test_message(to_address: str) -> int:
    """Queue the test message to ``to_address`` (checked by the caller), audited. The caller commits."""
    outbox_id = queue("test", to_address, language=organization_language(),
                      values={"organization": organization_name(), "portal_url": public_link("/enroll")})
    audit.record("mail.test_queued", target_type="mail", target_id=outbox_id, detail={"to": to_address})
    return outbox_id
