"""Delivery cost in process: the CPU of queueing one profile's InstallProfile for N devices.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.profile_delivery --devices 1000 [--profile exchange] [--database-url ...]

N user-enrolled devices (with push tokens, so every command also records a push) and one library
profile are written straight into a fresh database, with a pending ``profile_states`` row per
device; then ``portal.profiles.delivery.deliver_all`` is timed: the capability check, signing,
building and queueing each command with its push, batch by batch with a commit each. Reported:
CPU (this process; the database's too on PostgreSQL) and wall time per device. ``wifi-wpa2`` has
no variables (signed once per batch); ``exchange`` uses ``$EMAIL`` (filled and signed per device).
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import BENCH_SECRET, CpuMeter, commit, prepare_database, reference_ms

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "profiles"


def seed_devices(session, devices: int) -> list[int]:
    """N enrolled user-enrolled devices with push tokens, each with its person (e-mail and name); their ids."""
    from sqlalchemy import insert, select

    from portal.models import Device, EndUser
    from portal.models.base import utcnow

    now = utcnow()
    session.execute(insert(EndUser), [{"issuer": "https://idp.example.org", "subject": f"bench-{i}",
                                       "managed_apple_id": f"bench-{i}@example.org", "email": f"bench-{i}@example.org",
                                       "name": f"Bench {i}"} for i in range(devices)])
    users = dict(session.execute(select(EndUser.managed_apple_id, EndUser.id)).all())
    session.execute(insert(Device), [{
        "enrollment_type": "user", "enrollment_method": "profile_driven", "enrollment_id": secrets.token_hex(8),
        "status": "enrolled", "managed_apple_id": f"bench-{i}@example.org",
        "user_id": users[f"bench-{i}@example.org"], "certificate_fingerprint": "0" * 64,
        "push_token": secrets.token_hex(32), "push_magic": secrets.token_hex(8), "topic": "com.apple.mgmt.bench",
        "enrolled_at": now, "last_seen_at": now} for i in range(devices)])
    return list(session.scalars(select(Device.id).order_by(Device.id)))


def seed(session, devices: int, profile_name: str) -> int:
    """Devices, their people, one profile and a pending row per device; returns the profile id."""
    from sqlalchemy import insert

    from portal.models import ProfileState
    from portal.models.base import utcnow
    from portal.profiles.service import create_profile

    device_ids = seed_devices(session, devices)
    profile = create_profile(session, (CORPUS / f"{profile_name}.mobileconfig").read_bytes(), None, "bench")
    session.flush()
    now = utcnow()
    session.execute(insert(ProfileState), [{"profile_id": profile.id, "device_id": device_id, "operation": "install",
                                            "status": "pending", "attempts": 0, "updated_at": now}
                                           for device_id in device_ids])
    session.commit()
    return profile.id


def run(args: argparse.Namespace) -> dict:
    import os

    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from portal import create_app
    from portal.extensions import db
    from portal.models import Command, PushOutbox
    from portal.pki import device_ca, profile_signer
    from portal.profiles.delivery import deliver_all

    run_dir = Path(tempfile.mkdtemp(prefix="profile-delivery-"))
    database_url, postmaster = prepare_database(args.database_url, run_dir)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": BENCH_SECRET, "PUBLIC_URL": "http://127.0.0.1:1"})
    app.instance_path = str(run_dir)
    with app.app_context():
        upgrade()
        seed(db.session, args.devices, args.profile)
        profile_signer(), device_ca()  # made once per deployment: not the delivery's cost
        meter = CpuMeter({"this": [os.getpid()], **({"db": [postmaster]} if postmaster else {})})
        reference = reference_ms()
        meter.start()
        started = time.perf_counter()
        handled = deliver_all(db.session)
        wall = time.perf_counter() - started
        cpu, _steal = meter.stop()
        queued = db.session.scalar(select(func.count()).select_from(Command))
        pushes = db.session.scalar(select(func.count()).select_from(PushOutbox))
        db.session.remove()
        db.engine.dispose()
    per_device = {name: round(seconds * 1000 / args.devices, 3) for name, seconds in cpu.items()}
    return {"devices": args.devices, "profile": args.profile, "handled": handled, "commands": queued,
            "pushes": pushes, "wall_s": round(wall, 2), "wall_ms_per_device": round(wall * 1000 / args.devices, 3),
            "cpu_ms_per_device": per_device.pop("this"), "db_cpu_ms_per_device": per_device.get("db"),
            "database": "PostgreSQL" if postmaster else "SQLite", "reference_ms": reference, "commit": commit()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_delivery", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000, help="devices the profile is delivered to (default 1000)")
    parser.add_argument("--profile", default="wifi-wpa2", help="a profile of tests/data/profiles (default wifi-wpa2; "
                                                                "exchange has variables)")
    parser.add_argument("--database-url", help="PostgreSQL URL of a scratch database: its public schema is DROPPED "
                                               "first (default: a fresh SQLite file)")
    report = run(parser.parse_args(argv))
    print(json.dumps(report))
    return 0 if report["commands"] == report["devices"] else 1


if __name__ == "__main__":
    sys.exit(main())
