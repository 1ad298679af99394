"""Declaration status counts in process: the time of ``status_counts`` (the API's declaration list and status, the
declaration page) over N devices that each report every declaration.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.declaration_counts --devices 10000 --database-url postgresql+psycopg://...  # emptied first!

N user-enrolled devices with their people are written straight into a fresh database, ``--filled`` declarations
filled in per device (``$EMAIL`` and ``$MANAGED_APPLE_ID``) and as many served alike, each in every device's set,
and every device's status of each written as the version served now (no request, no worker). Timed, best of
``--rounds``: the counts of all of them, of the filled-in ones (each reporting device's token computed), of the
alike ones (one grouped statement), of one filled-in one, and of all of them as the library's list page asks
(``states=False``: what devices report, no token computed).
"""
from __future__ import annotations

import argparse
import json
import time

from benchmarks.harness import commit, in_process_app
from benchmarks.profile_delivery import seed_devices


def seed(session, devices: int, filled: int) -> list:
    """The declarations (``filled`` with variables, as many without), assigned to every device, and each device's
    status of each as the version it is served; returns the declarations."""
    from sqlalchemy import insert, select

    from portal.declarations.sets import members_of
    from portal.models import Declaration, DeclarationAssignment, DeclarationStatus
    from portal.models.base import utcnow

    device_ids = seed_devices(session, devices)
    for k in range(filled * 2):
        session.add(Declaration(type="com.apple.configuration.account.mail", identifier=f"bench.{k}",
                                kind="configuration", payload={}, server_token=f"bench-token-{k}", problems=[],
                                variables="EMAIL MANAGED_APPLE_ID" if k < filled else "", refers_to=[]))
    session.flush()
    declarations = list(session.scalars(select(Declaration).order_by(Declaration.id)))
    session.execute(insert(DeclarationAssignment), [{"device_id": device_id, "declaration_id": declaration.id}
                                                    for declaration in declarations for device_id in device_ids])
    now = utcnow()
    session.execute(insert(DeclarationStatus), [
        {"device_id": device_id, "identifier": member.identifier, "server_token": member.server_token,
         "active": True, "valid": "valid", "reasons": None, "updated_at": now}
        for device_id, members in members_of(session, device_ids).items() for member in members])
    session.commit()
    return declarations


def run(args: argparse.Namespace) -> dict:
    from sqlalchemy import text

    from portal.declarations.reported import status_counts
    from portal.extensions import db

    app, postmaster = in_process_app(args.database_url, "declaration-counts-")
    report: dict = {"devices": args.devices, "declarations filled in per device": args.filled,
                    "declarations served alike": args.filled,
                    "database": "PostgreSQL" if postmaster else "SQLite", "commit": commit()}
    with app.app_context():
        declarations = seed(db.session, args.devices, args.filled)
        if postmaster:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        filled, alike = declarations[:args.filled], declarations[args.filled:]
        cases = {"all": (declarations, True), "filled in per device": (filled, True), "alike": (alike, True),
                 "one filled in": (filled[:1], True), "all, list page (states=False)": (declarations, False)}
        for name, (chosen, states) in cases.items():
            best = None
            for _ in range(args.rounds):
                start = time.perf_counter()
                counts = status_counts(db.session, chosen, states=states)
                elapsed = time.perf_counter() - start
                best = elapsed if best is None else min(best, elapsed)
                db.session.rollback()
            if states:
                assert all(c["installed"] == args.devices and c["pending"] == 0 for c in counts.values()), counts
            report[name] = {"declarations": len(chosen), "best_s": round(best, 3)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--filled", type=int, default=10, help="declarations filled in per device (and as many not)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="a scratch PostgreSQL database, EMPTIED first (default: SQLite)")
    print(json.dumps(run(parser.parse_args()), indent=1))


if __name__ == "__main__":
    main()
