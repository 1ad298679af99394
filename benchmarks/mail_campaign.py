"""Migration campaign benchmark: N legacy devices (a tenth imported from CSV), the notice to every owner,
delivery to a local SMTP server (aiosmtpd), the reminders and the export.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench \
        python benchmarks/mail_campaign.py [--devices 10000]

The database is emptied first (use a throwaway one; default: a SQLite file under benchmarks/out/).
Everything runs in this process, as the API view and the worker's jobs run it; the figures are
wall-clock seconds of each step. Results are printed and appended to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.mail.delivery import deliver_due_mail  # noqa: E402
from portal.migration import campaign  # noqa: E402
from portal.migration.export import export_csv  # noqa: E402
from portal.migration.notices import notify, send_due_reminders  # noqa: E402
from portal.migration.paper import import_legacy_devices  # noqa: E402
from portal.migration.state import counts  # noqa: E402
from portal.models import Device  # noqa: E402
from tests.smtp_server import SmtpServer  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _reset(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()


def _seed(enrolled: int, now: datetime) -> None:
    rows = [{"enrollment_type": "device", "enrollment_method": "legacy", "udid": secrets.token_hex(20).upper(),
             "status": "enrolled", "managed_apple_id": f"owner{i}@example.org", "certificate_fingerprint": "",
             "os_version": ("16.7", "17.5", "18.1")[i % 3], "model": "iPhone 13", "enrolled_at": now,
             "last_seen_at": now, "created_at": now} for i in range(enrolled)]
    db.session.execute(insert(Device), rows)
    db.session.commit()


def timed(label: str, figures: list, action):
    start = time.perf_counter()
    result = action()
    figures.append((label, time.perf_counter() - start, result))
    print(f"{label:<40} {figures[-1][1]:8.2f} s   {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{OUT / 'mail_campaign.sqlite3'}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    server = SmtpServer().start()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "b" * 48, "SMTP_URL": server.url, "MAIL_FROM": "it@example.org"})
    _reset(app)
    imported = args.devices // 10
    csv = "udid,serial_number,user_email,model\n" + "".join(
        f"{secrets.token_hex(20).upper()},C{i:09d}X,paper{i}@example.org,iPhone 12\n" for i in range(imported))
    figures: list = []
    with app.app_context():
        now = datetime.now(timezone.utc)
        _seed(args.devices - imported, now)
        timed(f"import {imported} from CSV", figures, lambda: import_legacy_devices(csv.encode(), actor="bench").imported)
        campaign.save(campaign.CampaignSettings(reminder_days=[7]))
        db.session.commit()
        ids = list(db.session.scalars(text("SELECT id FROM devices ORDER BY id")))
        timed(f"notify {len(ids)} devices", figures, lambda: notify(ids, actor="bench").emails)
        timed("notify again (nothing to send)", figures, lambda: notify(ids, actor="bench").emails)
        timed("deliver the notices over SMTP", figures, lambda: deliver_due_mail(datetime.now(timezone.utc)))
        later = datetime.now(timezone.utc) + timedelta(days=8)
        timed("queue the 7-day reminders", figures, lambda: send_due_reminders(later))
        timed("counts", figures, lambda: sum(counts().values()))
        timed("export CSV", figures, lambda: sum(chunk.count("\n") for chunk in export_csv()) - 1)
    server.stop()
    load = os.getloadavg()
    line = (f"\n## Migration campaign, {args.devices} devices ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{url.split(':')[0]}, load {load[0]:.1f})\n\n| step | seconds | result |\n|---|---|---|\n"
            + "".join(f"| {label} | {seconds:.2f} | {result} |\n" for label, seconds, result in figures))
    print(line)
    if args.devices >= 1000:
        with RESULTS.open("a") as results:
            results.write(line)


if __name__ == "__main__":
    main()
