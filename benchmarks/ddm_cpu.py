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

``--interleaved ROUNDS`` measures the requests named by ``--requests`` in turn, one call of each per step,
200 steps a round, as a server sees them mixed (one request's memory and code evict the next one's from the
caches, which a loop of one request hides): it prints each request's median CPU over the rounds and its
median ratio to ``idle`` in the same round, the in-process counterpart of ``ddm_sync``'s paired rounds.
``--free plist,report,values`` measures a lower bound: each named part returns the result it computed for
the same input the first time (``plist``: reading every body, the idle connect's included; ``report``:
``parse_status_report``; ``values``: ``report_values``), so what is left is what the request costs if that
part cost nothing.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable

import httpx
import psycopg
from flask import Flask
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


def _setup(url: str) -> tuple[Callable[[dict], bytes], dict[str, tuple[str, bytes, dict]], int, Flask]:
    """The app on a fresh schema with one synchronised phone: the WSGI call, the requests by name, the
    phone's device id and the app (to forget its statuses)."""
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

    def start_response(status, _headers, _exc_info=None):
        if not status.startswith("200"):
            raise AssertionError(f"answered {status}")

    def call(environ: dict) -> bytes:
        out = app.wsgi_app(environ, start_response)
        body = b"".join(out)
        getattr(out, "close", lambda: None)()
        return body

    return call, requests, device_id, app


#: The reports measured as first ones: the device's statuses are deleted before them, so each writes every row.
FIRST_REPORTS = frozenset({"status first", "status incremental"})


def _separately(url: str, n: int) -> dict[str, dict]:
    """Each request N times in a loop of its own, with the SQL round trips of one."""
    call, requests, device_id, app = _setup(url)
    profiled = os.environ.get("DDM_CPU_PROFILE")
    results: dict[str, dict] = {}
    gc.collect()
    gc.freeze()
    for name, (path, body, headers) in requests.items():
        first = name in FIRST_REPORTS
        for _ in range(50):  # warm-up
            if first:
                forget_statuses(app, device_id)
            call(_environ(path, body, headers))
        with _RoundTrips() as trips:
            if first:
                forget_statuses(app, device_id)
            trips.counts.clear()
            call(_environ(path, body, headers))
        profiler = cProfile.Profile(time.process_time) if profiled == name else None
        spent = 0.0
        for _ in range(n):
            environ = _environ(path, body, headers)
            if first:
                forget_statuses(app, device_id)
            if profiler:
                profiler.enable()
            started = time.process_time()
            call(environ)
            spent += time.process_time() - started
            if profiler:
                profiler.disable()
        results[name] = {"cpu_ms": round(spent * 1000 / n, 4), "round_trips": dict(trips.counts)}
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("DDM_CPU_SORT", "cumulative")).print_stats(60)
    return results


#: Calls of each request in one round of ``--interleaved``.
STEPS = 200


def _interleaved(url: str, names: list[str], rounds: int) -> dict[str, dict]:
    """The named requests in turn, STEPS calls of each a round: median CPU ms, median ratio to idle's."""
    call, requests, device_id, app = _setup(url)
    unknown = [name for name in names if name not in requests]
    if unknown or "idle" not in names:
        raise SystemExit(f"--requests must name idle and only requests of {sorted(requests)}: {unknown}")
    # the statuses are deleted at the start of each step, so the step's first report writes every row and a
    # later one (the same declarations) none: same statement, less work for PostgreSQL, not for this process;
    # an unmeasured tokens request puts the request path back in the caches the delete's ORM work took
    forget = not FIRST_REPORTS.isdisjoint(names)
    gc.collect()
    gc.freeze()
    spent_by_round = []
    for number in range(rounds + 1):  # the first round warms up
        spent = dict.fromkeys(names, 0.0)
        for _ in range(STEPS):
            if forget:
                forget_statuses(app, device_id)
                call(_environ(*requests["tokens"]))
            for name in names:
                environ = _environ(*requests[name])
                started = time.process_time()
                call(environ)
                spent[name] += time.process_time() - started
        if number:
            spent_by_round.append(spent)
    return {name: {"cpu_ms": round(statistics.median(s[name] for s in spent_by_round) * 1000 / STEPS, 4),
                   "vs_idle": round(statistics.median(s[name] / s["idle"] for s in spent_by_round), 3)}
            for name in names}


def _memoized(function: Callable) -> Callable:
    """``function`` answering from the result it computed for the same first argument (bytes by value,
    anything else by identity: the same report object comes back from a memoized parse)."""
    results: dict = {}

    @functools.wraps(function)
    def memoized(first, *args, **kwargs):
        key = bytes(first) if isinstance(first, (bytes, bytearray)) else id(first)
        if key not in results:
            results[key] = (first, function(first, *args, **kwargs))  # keeps ``first`` alive: ids stay unique
        return results[key][1]

    return memoized


def _free(parts: set[str]) -> None:
    """Make the named parts free: each answers from its first result for the same input."""
    from mdm_core import plist_reader
    from portal.mdm import declarative

    if "plist" in parts:
        plist_reader.read = _memoized(plist_reader.read)
    if "report" in parts:
        declarative.parse_status_report = _memoized(declarative.parse_status_report)
    if "values" in parts:
        values = _memoized(declarative.report_values)
        declarative.report_values = lambda report: dict(values(report))  # the caller adds to it


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="a PostgreSQL URL whose public schema is DROPPED")
    parser.add_argument("n", nargs="?", type=int, default=1000, help="calls of each request (not interleaved)")
    parser.add_argument("--interleaved", type=int, metavar="ROUNDS", help="measure the requests in turn")
    parser.add_argument("--requests", default="idle,tokens,status again,status incremental",
                        help="comma-separated requests to interleave (idle among them)")
    parser.add_argument("--free", default="", help="comma-separated parts made free: plist, report, values")
    args = parser.parse_args(argv)
    if args.n < 1 or args.interleaved is not None and args.interleaved < 1:
        parser.error("n and ROUNDS must be at least 1")
    args.free = {part for part in args.free.split(",") if part}
    if args.free - {"plist", "report", "values"} or "values" in args.free and "report" not in args.free:
        parser.error("--free takes plist, report and values (values with report)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _free(args.free)
    if args.interleaved is None:
        results = _separately(args.url, args.n)
    else:
        results = _interleaved(args.url, args.requests.split(","), args.interleaved)
    print(json.dumps({"free": sorted(args.free), "requests": results}, indent=1))


if __name__ == "__main__":
    main()
