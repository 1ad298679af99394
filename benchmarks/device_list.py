"""Device list benchmark: seed 50,000 devices into PostgreSQL, time the admin page and the API.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench \
        python benchmarks/device_list.py [--devices 50000] [--requests 40]

The database is emptied first (use a throwaway one). Requests go through Flask's test client,
so the figures are server time (routing, queries, rendering) without network. Results are
printed and appended to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal import create_app  # noqa: E402
from portal.cli import upsert_admin  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import ApiToken, Device, EndUser  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nFigures measured on the development machine (2 cores, shared); newest last.\n"
OS_VERSIONS = ("16.7.10", "17.5.1", "17.6", "18.0", "18.1", "18.2")
MODELS = (("iPhone15,2", "MTLW3LL/A"), ("iPhone16,1", "MU673LL/A"), ("iPhone14,5", "MLPF3LL/A"), ("iPad13,1", "MYFM2LL/A"))
CASES = (
    ("page: first page", "/admin/devices"),
    ("page: search user", "/admin/devices?q=user123"),
    ("page: filter type + not seen 30 d", "/admin/devices?enrollment_type=device&not_seen_for_days=30"),
    ("page: sort last seen", "/admin/devices?sort=-last_seen_at"),
    ("API: first 100", "/api/v1/devices"),
    ("API: search OS version", "/api/v1/devices?q=17.6"),
    ("API: filter flagged", "/api/v1/devices?flagged=true"),
    ("API: sort last seen, page 2", None),
)


def seed(count: int) -> None:
    now = datetime.now(timezone.utc)
    users = [{"issuer": "https://idp.example.org", "subject": f"s{i}", "managed_apple_id": f"user{i}@example.org",
              "email": f"user{i}@example.org", "name": f"User {i}", "groups": [], "created_at": now}
             for i in range(count // 2)]
    db.session.execute(insert(EndUser), users)
    rows = []
    for i in range(count):
        user = i % (count // 2)
        legacy = i % 5 == 0
        product, model = MODELS[i % len(MODELS)]
        seen = now - timedelta(hours=(i * 7) % (24 * 60))
        rows.append({
            "enrollment_type": "device" if legacy else "user",
            "enrollment_method": "legacy" if legacy else ("account_driven" if i % 3 else "profile_driven"),
            "enrollment_id": None if legacy else secrets.token_hex(16), "udid": secrets.token_hex(12) if legacy else None,
            "status": "enrolled", "user_id": user + 1, "managed_apple_id": f"user{user}@example.org",
            "certificate_fingerprint": secrets.token_hex(32), "os_version": OS_VERSIONS[i % len(OS_VERSIONS)],
            "product_name": product, "model": model, "model_name": "iPad" if product.startswith("iPad") else "iPhone",
            "device_name": f"Device {i}", "created_at": now, "enrolled_at": seen - timedelta(days=30),
            "last_seen_at": seen,
        })
    for start in range(0, count, 5000):
        db.session.execute(insert(Device), rows[start:start + 5000])
    db.session.commit()
    # A live database has been vacuumed and analysed long ago; without this the first minutes of
    # measurements time autovacuum catching up on 75,000 fresh rows instead of the queries.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def timed(client, path: str, headers: dict, requests: int) -> list[float]:
    for _ in range(3):
        assert client.get(path, headers=headers).status_code == 200, path
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        sys.exit("set BENCH_DATABASE_URL to a throwaway PostgreSQL database (postgresql+psycopg://...)")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "b" * 40, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
        upgrade()
        started = time.perf_counter()
        seed(args.devices)
        seeded = time.perf_counter() - started
        upsert_admin("bench@example.org", "benchmark-password-1234")
        token_row, token = ApiToken.issue("bench")
        db.session.add(token_row)
        db.session.commit()
    client = app.test_client()
    client.post("/admin/login", data={"email": "bench@example.org", "password": "benchmark-password-1234"})
    api = {"Authorization": f"Bearer {token}"}
    lines = []
    for name, path in CASES:
        if path is None:
            first = client.get("/api/v1/devices?sort=-last_seen_at", headers=api).get_json()
            path = f"/api/v1/devices?sort=-last_seen_at&cursor={first['next']}"
        samples = timed(client, path, api if path.startswith("/api") else {}, args.requests)
        median, p95 = statistics.median(samples), statistics.quantiles(samples, n=20)[18]
        lines.append(f"| {name} | `{path[:70]}` | {median:.1f} | {p95:.1f} |")
        print(lines[-1], flush=True)
    report = (f"\n## Device list and API, {args.devices:,} devices on PostgreSQL ({datetime.now(timezone.utc):%Y-%m-%d})\n\n"
              f"`BENCH_DATABASE_URL=... python benchmarks/device_list.py --devices {args.devices} --requests {args.requests}`; "
              f"seeding took {seeded:.1f} s. Server time per request through Flask's test client (no network), "
              f"{args.requests} requests after 3 warm-ups; load average during the run "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs shared the machine). Goal: under 150 ms.\n\n"
              "| case | request | median ms | p95 ms |\n|---|---|---|---|\n" + "\n".join(lines) + "\n")
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    with RESULTS.open("a") as handle:
        handle.write(report)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
