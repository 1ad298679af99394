"""The mail job of the background worker: claim due outbox rows with a lease, send, record each at once.

At least once: a row is marked sent in its own commit right after the server accepted it. A worker
that dies between the two leaves the row claimed; when the lease runs out another worker sends it
again, with the same Message-ID, so the copy is recognisable. (At most once would need the row
marked before sending, and a crash there would lose a notice: worse than a rare, identifiable copy.)
A server that cannot be reached, or answers 4xx, delays mail with growing pauses and never drops it;
a 5xx answer for a message ends it as failed (shown on the mail page).
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from flask import current_app
from sqlalchemy import or_, select, update

from ..extensions import db
from ..models import MailOutbox
from ..models.base import utcnow
from ..settings_store import organization_name
from .settings import effective_settings
from .smtp_url import SmtpSettings
from .templates import one_line

log = logging.getLogger(__name__)
BATCH_SIZE = 50
DEFAULT_LEASE_SECONDS = 120.0
RETRY_FIRST, RETRY_MAX = timedelta(seconds=30), timedelta(minutes=15)
SMTP_TIMEOUT = 20
_warned = {"unconfigured": False}


@dataclass(frozen=True)
class _Claimed:
    id: int
    attempts: int
    message_id: str
    to_address: str
    to_name: str | None
    language: str
    subject: str
    text_body: str
    html_body: str


def retry_delay(attempts: int) -> timedelta:
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def build_message(row: _Claimed, settings: SmtpSettings, sender_name: str, now: datetime) -> EmailMessage:
    """The MIME message: plain text and HTML alternatives; every header value from data is one encoded line."""
    message = EmailMessage()
    message["Subject"] = one_line(row.subject)
    message["From"] = Address(display_name=one_line(sender_name, 200), addr_spec=settings.from_address)
    message["To"] = Address(display_name=one_line(row.to_name or "", 200), addr_spec=row.to_address)
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    message["Content-Language"] = row.language  # after the parts: making them moves Content-* headers down
    return message


def connect(settings: SmtpSettings, timeout: float = SMTP_TIMEOUT) -> smtplib.SMTP:
    """A logged-in connection: TLS from the start, or STARTTLS when offered (or insisted on)."""
    context = ssl.create_default_context()
    if settings.security == "tls":
        connection: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
    else:
        connection = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        try:
            connection.ehlo()
            if connection.has_extn("starttls"):
                connection.starttls(context=context)
                connection.ehlo()
            elif settings.security == "starttls_required":
                raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS, which SMTP_URL requires")
        except BaseException:
            connection.close()
            raise
    if settings.username:
        connection.login(settings.username, settings.password or "")
    return connection


def _claim(now: datetime, batch_size: int, lease: timedelta) -> list[_Claimed]:
    query = (select(MailOutbox.id, MailOutbox.attempts, MailOutbox.message_id, MailOutbox.to_address,
                    MailOutbox.to_name, MailOutbox.language, MailOutbox.subject, MailOutbox.text_body,
                    MailOutbox.html_body)
             .where(MailOutbox.sent_at.is_(None), MailOutbox.failed_at.is_(None), MailOutbox.next_attempt_at <= now,
                    or_(MailOutbox.claimed_until.is_(None), MailOutbox.claimed_until < now))
             .order_by(MailOutbox.id).limit(batch_size)
             .with_for_update(of=MailOutbox, skip_locked=True))  # SQLite has no row locks: SQLAlchemy leaves it out
    claimed = [_Claimed(*row) for row in db.session.execute(query)]
    if claimed:
        db.session.execute(update(MailOutbox).where(MailOutbox.id.in_([c.id for c in claimed]))
                           .values(claimed_until=now + lease))
    db.session.commit()
    return claimed


def _settle(row: _Claimed, now: datetime, *, sent: bool = False, error: str | None = None,
            permanent: bool = False) -> None:
    values: dict = {"claimed_until": None, "attempts": row.attempts + 1}
    if sent:
        values["sent_at"] = now
    elif permanent:
        values.update(failed_at=now, last_error=error[:300])
    else:
        values.update(next_attempt_at=now + retry_delay(row.attempts + 1), last_error=(error or "")[:300])
    db.session.execute(update(MailOutbox).where(MailOutbox.id == row.id).values(**values))
    db.session.commit()


def _refusal(exc: smtplib.SMTPException) -> tuple[str, bool]:
    """What the server said, and whether it is final (5xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
    else:
        return exc.__class__.__name__, False
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {text}", 500 <= code < 600


def _release(rows: list[_Claimed]) -> None:
    db.session.execute(update(MailOutbox).where(MailOutbox.id.in_([row.id for row in rows])).values(claimed_until=None))
    db.session.commit()


def _send(claimed: list[_Claimed], settings: SmtpSettings, now: datetime, deadline: float) -> tuple[int, bool]:
    """Send the claimed rows until the monotonic ``deadline``, after which the rest is released (another
    worker may claim them once the lease runs out: a slow server must not have them sent twice); returns
    how many the server accepted and whether some were released."""
    try:
        connection = connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        error = f"cannot reach {settings.host}:{settings.port}: {exc.__class__.__name__}: {exc}"
        log.warning("mail delayed: %s", error)
        for row in claimed:
            _settle(row, now, error=error)
        return 0, False
    sender_name = organization_name()
    sent = 0
    try:
        for index, row in enumerate(claimed):
            if index and time.monotonic() > deadline:
                _release(claimed[index:])
                return sent, True
            try:
                message = build_message(row, settings, sender_name, now)
            except (ValueError, IndexError, MessageError) as exc:  # an address no message can be written to
                log.warning("mail %s to %s cannot be written: %s", row.id, row.to_address, exc)
                _settle(row, now, error=f"no message can be written to this address: {exc}", permanent=True)
                continue
            try:
                connection.send_message(message, from_addr=settings.from_address, to_addrs=[row.to_address])
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
                error, permanent = _refusal(exc)
                log.warning("mail %s to %s refused: %s", row.id, row.to_address, error)
                _settle(row, now, error=error, permanent=permanent)
            except (OSError, smtplib.SMTPException) as exc:
                if isinstance(exc, smtplib.SMTPNotSupportedError) and not row.to_address.isascii():
                    # this address needs SMTPUTF8, which the server does not offer: final for this message only
                    log.warning("mail %s to %s refused: %s", row.id, row.to_address, exc)
                    _settle(row, now, error=f"the mail server cannot take this address: {exc}", permanent=True)
                    continue
                for waiting in claimed[index:]:  # the connection broke: the rest waits too
                    _settle(waiting, now, error=f"{exc.__class__.__name__}: {exc}")
                return sent, False
            else:
                _settle(row, now, sent=True)
                sent += 1
    finally:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()
    return sent, False


def deliver_due_mail(now: datetime | None = None, *, batch_size: int = BATCH_SIZE) -> int:
    """Send every message that is due; returns how many the server accepted. Needs an app context."""
    settings = effective_settings()
    db.session.commit()
    if settings is None:
        if not _warned["unconfigured"]:
            log.warning("no SMTP server configured (SMTP_URL or the admin mail page): mail waits in the outbox")
            _warned["unconfigured"] = True
        return 0
    lease = timedelta(seconds=current_app.config.get("MAIL_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))
    sent = 0
    while True:
        moment = now or utcnow()
        # half the lease for sending: the message under way when it passes has the other half (SMTP_TIMEOUT a step)
        deadline = time.monotonic() + lease.total_seconds() / 2
        claimed = _claim(moment, batch_size, lease)
        if not claimed:
            return sent
        accepted, released = _send(claimed, settings, moment, deadline)
        sent += accepted
        if len(claimed) < batch_size and not released:
            return sent
