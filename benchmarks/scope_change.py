"""Scope change in process: the time and CPU of ``set_scope`` for one profile over N devices.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.scope_change --devices 10000 --database-url postgresql+psycopg://...  # emptied first!

N user-enrolled devices with their people are written straight into a fresh database, half of the
people members of the group ``bench-half``, and one Wi-Fi profile uploaded. Timed, each as the API's
``PUT /api/v1/profiles/<id>/scope`` runs it (``portal.profiles.service.set_scope``: preview counts,
save, set-based reconcile, the first batch of commands, commit):

1. ``scope_all``: ``{"all_user_enrolled": true}``: N pending installs.
2. Every row is then marked installed in one statement (what N acknowledgements do), and the
   database's statistics refreshed as autovacuum would after that many changed rows (not timed).
3. ``exclude_half``: the same scope excluding ``bench-half``: N/2 devices leave it (goal: under 2 s at
   10,000).
4. ``worker_pass_lock_s``: each kind's reconciliation as the worker's pass runs it, from its first read to its
   commit, which is how long it holds the desired state's lock: what a sign-in or SCIM change that re-scopes waits
   at most behind it.

``benchmarks/profile_rollout.py`` measures the same calls over HTTP with simulated devices answering;
this one isolates the recompute from the set-up's enrollment, so it runs at 10,000 devices in a minute.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks.harness import CpuMeter, commit, in_process_app, reference_ms
from benchmarks.profile_delivery import CORPUS, seed_devices

GROUP = "bench-half"
GOAL_SECONDS = 2.0


def add_group(session, device_ids: list[int]) -> int:
    """``bench-half``: the people of every other device; returns how many members."""
    from sqlalchemy import insert, select

    from portal.models import Device, Group, GroupMembership
    from portal.scope.groups import SIGN_IN

    group = Group(name=GROUP, source=SIGN_IN)
    session.add(group)
    session.flush()
    members = session.scalars(select(Device.user_id).where(Device.id.in_(device_ids[::2]))).all()
    session.execute(insert(GroupMembership), [{"group_id": group.id, "user_id": user_id, "source": SIGN_IN}
                                              for user_id in members])
    session.commit()
    return len(members)


def timed(meter: CpuMeter, action) -> tuple[object, dict]:
    meter.start()
    started = time.perf_counter()
    result = action()
    wall = time.perf_counter() - started
    cpu, _steal = meter.stop()
    return result, {"wall_s": round(wall, 3), **{f"{name}_cpu_s": round(seconds, 3) for name, seconds in cpu.items()}}


def worker_pass_lock(session) -> dict[str, float]:
    """How long the worker's pass holds the desired state's lock (``portal.database.locks``) at this scale, each
    kind's reconciliation from its first read to its commit: what a sign-in, a SCIM change or an enrollment that
    re-scopes waits at most behind it (nothing left to change: the steady state)."""
    from portal.apps.desired import reconcile as apps
    from portal.declarations.desired import reconcile as declarations
    from portal.profiles.desired import reconcile as profiles

    held = {}
    for name, reconcile in (("profiles", profiles), ("declarations", declarations), ("apps", apps)):
        start = time.perf_counter()
        reconcile(session)
        session.commit()
        held[name] = round(time.perf_counter() - start, 3)
    return held


def run(args: argparse.Namespace) -> dict:
    from sqlalchemy import func, select, text, update

    from portal.extensions import db
    from portal.models import Command, Profile, ProfileState
    from portal.pki import device_ca, profile_signer
    from portal.profiles.service import create_profile, set_scope
    from portal.scope.targets import parse_scope

    app, postmaster = in_process_app(args.database_url, "scope-change-")
    report: dict = {"devices": args.devices, "database": "PostgreSQL" if postmaster else "SQLite", "commit": commit()}
    with app.app_context():
        device_ids = seed_devices(db.session, args.devices)
        report["group_members"] = add_group(db.session, device_ids)
        profile_id = create_profile(db.session, (CORPUS / "wifi-wpa2.mobileconfig").read_bytes(), None, "bench").id
        db.session.commit()
        profile_signer(), device_ca()  # made once per deployment
        if postmaster:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        meter = CpuMeter({"this": [os.getpid()], **({"db": [postmaster]} if postmaster else {})})
        report["reference_ms"] = reference_ms()

        def change(document: dict):
            def act():
                answer = set_scope(db.session, db.session.get(Profile, profile_id), parse_scope(document))
                db.session.commit()
                return answer
            return act

        answer, report["scope_all"] = timed(meter, change({"all_user_enrolled": True}))
        report["scope_all"]["answer"] = vars(answer)
        revision = db.session.get(Profile, profile_id).revision
        db.session.execute(update(ProfileState).values(status="installed", revision=revision))
        db.session.commit()
        if postmaster:
            db.session.execute(text("ANALYZE profile_states"))
            db.session.commit()
        answer, report["exclude_half"] = timed(meter, change({"all_user_enrolled": True,
                                                              "exclude": {"groups": [GROUP]}}))
        report["exclude_half"]["answer"] = vars(answer)
        report["worker_pass_lock_s"] = worker_pass_lock(db.session)
        report["states"] = dict(db.session.execute(select(ProfileState.status, func.count())
                                                   .group_by(ProfileState.status)).all())
        report["commands"] = dict(db.session.execute(select(Command.request_type, func.count())
                                                     .group_by(Command.request_type)).all())
        db.session.remove()
        db.engine.dispose()
    half = report["group_members"]
    report["goal_met"] = (report["exclude_half"]["answer"] == {"devices_added": 0, "devices_removed": half}
                          and report["exclude_half"]["wall_s"] < GOAL_SECONDS)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scope_change", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10000, help="user-enrolled devices (default 10000)")
    parser.add_argument("--database-url", help="PostgreSQL URL of a scratch database: its public schema is DROPPED "
                                               "first (default: a fresh SQLite file)")
    report = run(parser.parse_args(argv))
    print(json.dumps(report))
    return 0 if report["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
