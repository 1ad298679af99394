"""In-process CPU per DDM check-in against an idle connect, for comparing two checkouts of the code.

Run from a checkout's root: ``python -m benchmarks.ddm_cpu POSTGRES_URL [N]`` (the database's public
schema is DROPPED). It builds the app on that database, creates the declaration set of ``ddm_sync``
(a user-identity asset and a mail account, scoped to every user-enrolled device), enrolls one simulated
phone that synchronises once, then measures ``process_time`` around N WSGI calls of each request (the
environs, with their signatures, built before the clock starts): an ``Idle`` on an empty queue, then
``tokens``, ``declaration-items``, each declaration of the manifest, and the phone's full status report,
sent as a first report (its declaration statuses deleted before each call, off the clock) and again as
it is (nothing changed), and an incremental report (the ``management.declarations`` item alone, as after an
edit; the statuses deleted before each call too). Prints JSON: CPU ms per request and the SQL round trips of
one request (statements, and the BEGIN of each transaction: psycopg sends it before the first statement).
``DDM_CPU_PROFILE=<request>`` prints a cProfile of that request's loop instead.
"""
from __future__ import annotations

import cProfile
import gc
import io
import json
import os
import pstats
import sys
import time
from collections import Counter

import httpx
import psycopg
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from benchmarks.ddm_sync import DECLARATIONS, forget_statuses
from mdm_core import plist
from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE, COMMAND_CONTENT_TYPE, SimulatedDevice
from portal import create_app
from portal.extensions import db
from portal.models import ApiToken
from portal.models.api_token import SCIM_SCOPE, SCOPES


def _environ(path: str, body: bytes, headers: dict[str, str]) -> dict:
    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": sys.stderr, "wsgi.multithread": False,
               "wsgi.multiprocess": True, "wsgi.run_once": False, "QUERY_STRING": "", "SCRIPT_NAME": ""}
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


class _RoundTrips:
    """Counts what the app sends PostgreSQL: statements (``execute``, ``executemany``), commits, rollbacks."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._patched = []

    def __enter__(self) -> _RoundTrips:
        for owner, name in ((psycopg.Cursor, "execute"), (psycopg.Cursor, "executemany"),
                            (psycopg.Connection, "commit"), (psycopg.Connection, "rollback")):
            original = getattr(owner, name)

            def counted(this, *args, _original=original, _name=name, **kwargs):
                if _name in ("execute", "executemany") and this.connection.info.transaction_status == 0 \
                        and not this.connection.autocommit:
                    self.counts["begin"] += 1  # IDLE outside autocommit: psycopg sends BEGIN first
                self.counts[_name] += 1
                return _original(this, *args, **kwargs)

            self._patched.append((owner, name, original))
            setattr(owner, name, counted)
        return self

    def __exit__(self, *_exc) -> None:
        for owner, name, original in self._patched:
            setattr(owner, name, original)


def main() -> None:
    url = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "inprocess-ddm-secret-0123456789abcdef0123",
                      "PUBLIC_URL": "http://127.0.0.1:8000"})
    with app.app_context():
        upgrade()
        row, token = ApiToken.issue("ddm-cpu", tuple(s for s in SCOPES if s != SCIM_SCOPE))
        db.session.add(row)
        db.session.commit()
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://127.0.0.1:8000")
    auth = {"Authorization": f"Bearer {token}"}
    for declaration in DECLARATIONS:
        created = http.post("/api/v1/declarations", headers=auth, json=declaration)
        assert created.status_code == 201, created.text
        scoped = http.put(f"/api/v1/declarations/{created.json()['id']}/scope", headers=auth,
                          json={"all_user_enrolled": True})
        assert scoped.status_code == 200, scoped.text
    profile = http.post("/api/v1/enrollment-profiles", headers=auth,
                        json={"enrollment_type": "user", "managed_apple_id": "a@example.org"})
    assert profile.status_code == 201, profile.text
    phone = SimulatedDevice(enrollment_type="user")
    phone.install_profile(profile.content, http)
    phone.poll(http)  # inventory, then DeclarativeManagement: the phone synchronises and reports
    assert phone.ddm.reports and phone.ddm.state_of(DECLARATIONS[1]["identifier"])["active"], "the phone did not sync"
    device_id = http.get("/api/v1/devices", headers=auth).json()["devices"][0]["id"]

    def checkin(endpoint: str, data: bytes | None = None) -> tuple[str, bytes, dict[str, str]]:
        body = plist.dumps(phone.declarative_management_message(endpoint, data))
        return "/mdm/checkin", body, phone.headers(body, CHECKIN_CONTENT_TYPE)

    idle = plist.dumps(phone.idle_report())
    manifest = json.loads(http.request("PUT", "/mdm/checkin", content=checkin("declaration-items")[1],
                                       headers=checkin("declaration-items")[2]).content)
    report = json.dumps(phone.ddm.reports[0]).encode()
    requests = {"idle": ("/mdm/connect", idle, phone.headers(idle, COMMAND_CONTENT_TYPE)),
                "tokens": checkin("tokens"), "declaration-items": checkin("declaration-items")}
    for list_name, kind in (("Activations", "activation"), ("Assets", "asset"), ("Configurations", "configuration"),
                            ("Management", "management")):
        for item in manifest["Declarations"][list_name]:
            requests[f"declaration {item['Identifier']}"] = checkin(f"declaration/{kind}/{item['Identifier']}")
    requests["status first"] = requests["status again"] = checkin("status", report)
    # what a phone sends after an edit: the management.declarations item alone (every row written, as at first)
    declarations = phone.ddm.reports[0]["StatusItems"]["management"]["declarations"]
    requests["status incremental"] = checkin("status", json.dumps(
        {"StatusItems": {"management": {"declarations": declarations}}, "Errors": [], "FullReport": False}).encode())

    seen = []

    def start_response(status, _headers, _exc_info=None):
        seen.append(status)

    def call(environ: dict) -> bytes:
        out = app.wsgi_app(environ, start_response)
        body = b"".join(out)
        getattr(out, "close", lambda: None)()
        return body

    profiled = os.environ.get("DDM_CPU_PROFILE")
    results: dict[str, dict] = {}
    gc.collect()
    gc.freeze()
    for name, (path, body, headers) in requests.items():
        first = name in ("status first", "status incremental")
        for _ in range(50):  # warm-up
            forget_statuses(app, device_id) if first else None
            call(_environ(path, body, headers))
        with _RoundTrips() as trips:
            forget_statuses(app, device_id) if first else None
            trips.counts.clear()
            call(_environ(path, body, headers))
        profiler = cProfile.Profile(time.process_time) if profiled == name else None
        spent = 0.0
        for _ in range(n):
            environ = _environ(path, body, headers)
            forget_statuses(app, device_id) if first else None
            if profiler:
                profiler.enable()
            started = time.process_time()
            call(environ)
            spent += time.process_time() - started
            if profiler:
                profiler.disable()
        assert all(status.startswith("200") for status in seen[-n:]), (name, set(seen[-n:]))
        results[name] = {"cpu_ms": round(spent * 1000 / n, 4), "round_trips": dict(trips.counts)}
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("DDM_CPU_SORT", "cumulative")).print_stats(60)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
