"""Migration counts in process: the time of ``portal.migration.state.counts`` (the one grouped query behind
``GET /api/v1/migration``'s counts and the Admin › Migration page) over N legacy and M User Enrollment devices.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.migration_counts --legacy 20000 --user-enrolled 10000 --database-url postgresql+psycopg://...  # emptied first!

The devices are written straight into a fresh database: M user-enrolled devices with their people
(``bench-<i>@example.org``), then N legacy enrollments owned by ``bench-<i>`` too, so the first M legacy owners
also hold a User Enrollment. Every second legacy device has been notified, every fourth also sent the removal
of its enrollment profile (3 or 10 days ago), answered in turn Acknowledged, Error or not yet; so each state the
query derives occurs. Timed: ``counts()``, best and median of ``--rounds``.
"""
from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from datetime import timedelta

from benchmarks.harness import commit, in_process_app
from benchmarks.profile_delivery import seed_devices


def seed(session, legacy: int, user_enrolled: int) -> None:
    from sqlalchemy import insert, select

    from portal.models import Command, Device, EndUser, LegacyMigration
    from portal.models.base import utcnow

    seed_devices(session, user_enrolled)
    users = dict(session.execute(select(EndUser.managed_apple_id, EndUser.id)).all())
    now = utcnow()
    before = now - timedelta(days=3)
    session.execute(insert(Device), [{
        "enrollment_type": "device", "enrollment_method": "legacy", "udid": secrets.token_hex(20).upper(),
        "status": "enrolled", "managed_apple_id": f"bench-{i}@example.org", "user_id": users.get(f"bench-{i}@example.org"),
        "certificate_fingerprint": "0" * 64, "enrolled_at": before - timedelta(days=30), "last_seen_at": before,
    } for i in range(legacy)])
    legacy_ids = list(session.scalars(select(Device.id).where(Device.enrollment_type == "device").order_by(Device.id)))
    answers = ("acknowledged", "error", "sent")
    sent = {device_id: before if n % 8 == 0 else now - timedelta(days=10)  # a week without an answer: stalled
            for n, device_id in enumerate(legacy_ids) if n % 4 == 0}
    session.execute(insert(Command), [{
        "command_uuid": f"BENCH-{n:08d}", "device_id": device_id, "request_type": "RemoveProfile", "payload": b"",
        "status": answers[n // 4 % 3], "created_at": sent[device_id], "sent_at": sent[device_id],
        "completed_at": sent[device_id] if answers[n // 4 % 3] != "sent" else None,
    } for n, device_id in enumerate(legacy_ids) if n % 4 == 0])
    commands = dict(session.execute(select(Command.device_id, Command.id)).all())
    session.execute(insert(LegacyMigration), [{
        "device_id": device_id, "created_at": now - timedelta(days=11), "notified_at": now - timedelta(days=11),
        "unenroll_command_id": commands.get(device_id), "unenroll_sent_at": sent.get(device_id),
    } for n, device_id in enumerate(legacy_ids) if n % 2 == 0])
    session.commit()


def run(args: argparse.Namespace) -> dict:
    from sqlalchemy import text

    from portal.extensions import db
    from portal.migration.state import counts

    app, postmaster = in_process_app(args.database_url, "migration-counts-")
    report: dict = {"legacy devices": args.legacy, "user-enrolled devices": args.user_enrolled,
                    "database": "PostgreSQL" if postmaster else "SQLite", "commit": commit()}
    with app.app_context():
        seed(db.session, args.legacy, args.user_enrolled)
        if postmaster:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            result = counts()
            times.append(time.perf_counter() - start)
            db.session.rollback()
        assert sum(result.values()) == args.legacy, result
        report.update({"counts": result, "best_ms": round(min(times) * 1000, 1),
                       "median_ms": round(statistics.median(times) * 1000, 1), "rounds": args.rounds})
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--legacy", type=int, default=20_000)
    parser.add_argument("--user-enrolled", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--database-url", help="a scratch PostgreSQL database, EMPTIED first (default: SQLite)")
    print(json.dumps(run(parser.parse_args()), indent=1))


if __name__ == "__main__":
    main()
