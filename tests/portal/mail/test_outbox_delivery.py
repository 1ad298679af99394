"""The outbox and its delivery against a real SMTP server: once each, retried, never lost, never injected."""
from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.mail.delivery import deliver_due_mail
from portal.mail.outbox import queue
from portal.models import MailOutbox
from portal.models.base import utcnow
from portal.settings_store import update_enrollment_settings
from tests.smtp_server import SENDER, SmtpServer, free_port



VALUES = {"organization": "Example Org", "message": "The push certificate expires in 7 days.",
          "admin_url": "https://mdm.example.org/admin/"}


def _queue(app, count: int, **kwargs) -> list[int]:
    with app.app_context():
        ids = [queue("admin_alert", f"admin{i}@example.org", language="en", values=VALUES, **kwargs) for i in range(count)]
        db.session.commit()
        return ids


def _deliver(app, now=None) -> int:
    with app.app_context():
        return deliver_due_mail(now)


def test_a_queued_message_arrives_once_with_text_and_html_and_is_marked_sent(mail_app, smtp_server):
    _queue(mail_app, 3)
    assert _deliver(mail_app) == 3
    assert _deliver(mail_app) == 0, "a sent message is not sent again"
    assert len(smtp_server.messages) == 3
    message = smtp_server.recorder.to("admin0@example.org")[0]
    assert message["From"].addresses[0].addr_spec == SENDER and message["Subject"].startswith("[Example Org]")
    assert message.get_body(("plain",)).get_content().startswith("The push certificate expires in 7 days.")
    assert "https://mdm.example.org/admin/" in message.get_body(("html",)).get_content()
    with mail_app.app_context():
        rows = db.session.scalars(select(MailOutbox)).all()
        assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
        assert {r.message_id for r in rows} == {m["Message-ID"] for m in smtp_server.messages}


def test_without_an_smtp_server_mail_waits(app):
    _queue(app, 1)
    assert _deliver(app) == 0
    with app.app_context():
        assert db.session.scalar(select(MailOutbox.sent_at)) is None


def test_an_unreachable_server_delays_mail_with_backoff_and_loses_none(mail_app, monkeypatch):
    later = SmtpServer()  # not started yet: its port refuses connections
    monkeypatch.setitem(mail_app.config, "SMTP_URL", later.url)
    _queue(mail_app, 5)
    now = utcnow()
    assert _deliver(mail_app, now) == 0
    assert _deliver(mail_app, now + timedelta(seconds=10)) == 0, "not tried again before the backoff"
    with mail_app.app_context():
        rows = db.session.scalars(select(MailOutbox)).all()
        assert all(r.attempts == 1 and r.sent_at is None and r.next_attempt_at >= now + timedelta(seconds=30)
                   and "cannot reach" in r.last_error for r in rows)
    assert _deliver(mail_app, now + timedelta(seconds=31)) == 0
    with mail_app.app_context():
        assert {r.attempts for r in db.session.scalars(select(MailOutbox))} == {2}
    later.start()
    try:
        assert _deliver(mail_app, now + timedelta(hours=1)) == 5
        assert sorted(str(m["To"]) for m in later.messages) == [f"admin{i}@example.org" for i in range(5)]
    finally:
        later.stop()


def test_a_permanent_refusal_ends_the_message_and_a_temporary_one_retries(mail_app, smtp_server, monkeypatch):
    refusals = iter(["550 5.1.1 no such user", "451 4.3.0 busy"])

    async def refuse(server, session, envelope, address, rcpt_options):
        return next(refusals, None) or (envelope.rcpt_tos.append(address) or "250 OK")

    monkeypatch.setattr(smtp_server.recorder, "handle_RCPT", refuse, raising=False)
    _queue(mail_app, 3)
    now = utcnow()
    assert _deliver(mail_app, now) == 1
    with mail_app.app_context():
        rows = db.session.scalars(select(MailOutbox).order_by(MailOutbox.id)).all()
        assert rows[0].failed_at is not None and rows[0].last_error.startswith("550")
        assert rows[1].failed_at is None and rows[1].sent_at is None and rows[1].last_error.startswith("451")
        assert rows[2].sent_at is not None
    assert _deliver(mail_app, now + timedelta(minutes=1)) == 1
    assert len(smtp_server.messages) == 2


def test_a_dedupe_key_queues_a_message_once(app):
    with app.app_context():
        first = queue("admin_alert", "a@example.org", language="en", values=VALUES, dedupe_key="alert:1:1")
        again = queue("admin_alert", "a@example.org", language="en", values=VALUES, dedupe_key="alert:1:1")
        db.session.commit()
        assert first is not None and again is None
        assert db.session.scalar(select(db.func.count()).select_from(MailOutbox)) == 1


def test_a_crash_after_the_server_accepted_resends_with_the_same_message_id(mail_app, smtp_server, monkeypatch):
    """At least once: the sent mark is lost with the crash, so the lease runs out and the message goes again."""
    import portal.mail.delivery as delivery

    _queue(mail_app, 1)
    now = utcnow()

    def crash(row, moment, **kwargs):
        if kwargs.get("sent"):
            raise SystemExit("worker killed before the commit")
        return settle(row, moment, **kwargs)

    settle = delivery._settle
    monkeypatch.setattr(delivery, "_settle", crash)
    with mail_app.app_context(), pytest.raises(SystemExit):
        deliver_due_mail(now)
    monkeypatch.setattr(delivery, "_settle", settle)
    assert _deliver(mail_app, now + timedelta(seconds=60)) == 0, "held by the dead worker's lease"
    assert _deliver(mail_app, now + timedelta(seconds=121)) == 1
    first, second = smtp_server.messages
    assert first["Message-ID"] == second["Message-ID"]


HOSTILE_ORG = 'Evil <script>alert(1)</script>\r\nBcc: victim@example.org'


def test_hostile_names_are_escaped_in_html_and_cannot_add_headers(mail_app, smtp_server):
    with mail_app.app_context():
        update_enrollment_settings({"organization_name": "Evil <script>alert(1)</script> & Co"})
        queue("migration_notice", "dana@example.org", language="en",
              to_name='Dana\r\nBcc: victim@example.org', values={
                  "name": '<img src=x onerror=alert(1)>\r\nBcc: victim@example.org',
                  "organization": HOSTILE_ORG, "enroll_url": "https://mdm.example.org/enroll",
                  "portal_url": "https://mdm.example.org/enroll", "devices": [{"model": "<b>iPhone</b>", "os_version": "17.5"}],
                  "profile_driven": True, "account_driven": True})
        db.session.commit()
    assert _deliver(mail_app) == 1
    message = smtp_server.messages[0]
    assert smtp_server.recorder.envelopes[0][1] == ["dana@example.org"], "no Bcc reached the envelope"
    assert message["Bcc"] is None and len(message.get_all("To")) == 1 and len(message.get_all("Subject")) == 1
    assert "\n" not in str(message["Subject"]) and "Evil <script>" in str(message["Subject"])
    assert message["From"].addresses[0].addr_spec == SENDER and "Evil" in message["From"].addresses[0].display_name
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img src=x" in html and "&lt;b&gt;iPhone&lt;/b&gt;" in html


def test_a_closed_port_is_really_closed():
    """The unreachable-server test relies on an unused port refusing connections."""
    import socket

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", free_port()), timeout=1)


def test_an_address_the_server_cannot_take_fails_alone_and_the_rest_is_sent(app, monkeypatch):
    """An internationalised domain (an imported list, an IdP's claim) to a server without SMTPUTF8."""
    server = SmtpServer()
    server._controller.SMTP_kwargs["enable_SMTPUTF8"] = False
    server.start()
    try:
        monkeypatch.setitem(app.config, "SMTP_URL", server.url)
        monkeypatch.setitem(app.config, "MAIL_FROM", SENDER)
        with app.app_context():
            for address in ("it@exämple.org", "admin1@example.org", "admin2@example.org"):
                queue("admin_alert", address, language="en", values=VALUES)
            db.session.commit()
        assert _deliver(app) == 2, "the others are not held back"
        with app.app_context():
            rows = db.session.scalars(select(MailOutbox).order_by(MailOutbox.id)).all()
            assert rows[0].failed_at is not None and "SMTPUTF8" in rows[0].last_error
            assert rows[1].sent_at is not None and rows[2].sent_at is not None
        assert _deliver(app) == 0
        assert sorted(str(m["To"]) for m in server.messages) == ["admin1@example.org", "admin2@example.org"]
    finally:
        server.stop()


def test_an_address_no_message_can_be_written_to_fails_alone_and_the_rest_is_sent(mail_app, smtp_server):
    """``ops@`` (create-admin took any address with an @): the e-mail library raised, the job failed on every
    pass and the messages claimed after it never left."""
    with mail_app.app_context():
        for address in ("ops@", "admin1@example.org", "admin2@example.org"):
            queue("admin_alert", address, language="en", values=VALUES)
        db.session.commit()
    assert _deliver(mail_app) == 2
    with mail_app.app_context():
        rows = db.session.scalars(select(MailOutbox).order_by(MailOutbox.id)).all()
        assert rows[0].failed_at is not None and "no message can be written" in rows[0].last_error
        assert rows[1].sent_at is not None and rows[2].sent_at is not None
    assert sorted(str(m["To"]) for m in smtp_server.messages) == ["admin1@example.org", "admin2@example.org"]


def test_a_batch_outlasting_half_its_lease_on_a_slow_server_is_released_not_sent_twice(mail_app, smtp_server,
                                                                                      monkeypatch):
    """A slow (tarpitting) server: the batch's lease ran out while it was sent, and another node's mail job sent the
    rest again. The sender gives back what it has not sent at half the lease (scaled down here: 1 s, 0.4 s a
    message; by default 120 s, 20 s an SMTP step)."""
    recorder, lease = smtp_server.recorder, 1.0
    original = type(recorder).handle_DATA

    async def slow(self, server, session, envelope):
        await asyncio.sleep(0.4)
        return await original(self, server, session, envelope)

    monkeypatch.setattr(type(recorder), "handle_DATA", slow)
    monkeypatch.setitem(mail_app.config, "MAIL_LEASE_SECONDS", lease)
    _queue(mail_app, 8)

    def worker():
        with mail_app.app_context():
            deliver_due_mail()
            db.session.remove()

    first = threading.Thread(target=worker)
    first.start()
    first.join(lease + 0.5)
    assert first.is_alive(), "the first job is still sending"
    second = threading.Thread(target=worker)  # another node's mail job, once the first lease has run out
    second.start()
    first.join(30)
    second.join(30)
    copies = Counter(m["Message-ID"] for m in smtp_server.messages)
    assert len(copies) == 8 and set(copies.values()) == {1}, copies
