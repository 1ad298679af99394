"""Notices, reminders and alerts arrive once each although the worker process is killed mid-batch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from sqlalchemy import func, select

from portal.alerts.check import raise_alert
from portal.extensions import db
from portal.migration.notices import mail_notices, notify
from portal.migration.state import rows_for_devices
from portal.models import Admin, Device, MailOutbox
from tests.helpers import REPO, TEST_SECRET
from tests.smtp_server import SENDER


def _worker(app, smtp_server, log):
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": TEST_SECRET,
           "PUBLIC_URL": app.config["PUBLIC_URL"], "SMTP_URL": smtp_server.url, "MAIL_FROM": SENDER,
           "LOG_FORMAT": "text"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--mail-lease", "3"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _unsent(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(MailOutbox).where(MailOutbox.sent_at.is_(None)))
        db.session.remove()
        return count


def test_mail_survives_a_killed_worker(app, seed, smtp_server, tmp_path):
    ids = seed(10, enrollment_type="device")
    with app.app_context():
        for index, device_id in enumerate(ids):
            db.session.get(Device, device_id).managed_apple_id = f"person{index}@example.org"
        db.session.add_all([Admin(email=f"admin{i}@example.org", password_hash="x") for i in range(2)])
        db.session.commit()
        assert notify(ids, actor="admin@example.org").emails == 10
        mail_notices(rows_for_devices(ids), "reminder-7", actor="migration-campaign")
        raise_alert("expiry", "expiry:test", "The push certificate expires in 7 days.")
        db.session.commit()
        expected = Counter(db.session.scalars(select(MailOutbox.to_address)))
        message_ids = set(db.session.scalars(select(MailOutbox.message_id)))
    assert sum(expected.values()) == 22
    smtp_server.recorder.hold_at, smtp_server.recorder.refuse_held = 5, True
    log = open(tmp_path / "worker.log", "w")
    worker = _worker(app, smtp_server, log)
    try:
        assert smtp_server.recorder.holding.wait(90), (tmp_path / "worker.log").read_text()[-3000:]
        os.killpg(worker.pid, signal.SIGKILL)  # mid-batch: four sent, the fifth in the server's hands
        worker.wait(10)
        smtp_server.recorder.release.set()
        assert len(smtp_server.messages) == 4 and _unsent(app) == 18
        worker = _worker(app, smtp_server, log)
        deadline = time.monotonic() + 90
        while _unsent(app) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _unsent(app) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(10)
        log.close()
    received = Counter(m["Message-ID"] for m in smtp_server.messages)
    assert set(received) == message_ids and set(received.values()) == {1}, "each message once"
    assert Counter(str(m["To"]) for m in smtp_server.messages) == expected
    kinds = Counter(m["Subject"].split(":")[0].split(" ")[0] for m in smtp_server.messages)
    assert kinds == {"BYOD": 10, "Reminder": 10, "[BYOD": 2}
