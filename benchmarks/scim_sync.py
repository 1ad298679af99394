"""SCIM sync benchmark: an identity provider's first sync of N people and N/20 groups, then changes.

    python -m benchmarks.scim_sync --database-url postgresql+psycopg://postgres@127.0.0.1:5432/scratch [--people 10000]

Against gunicorn over real HTTP, as Entra ID and Okta send it: each person looked up by ``userName`` then created;
each group looked up, created, and filled with one PATCH of its members; then 5% of the people move to another
group (a PATCH removing them from one, one adding them to the other) and 1% are deactivated (offboarded). Reports
requests per second and the server's (and PostgreSQL's) CPU per request, per phase. The database's public schema
is DROPPED first; without ``--database-url`` it runs on a SQLite file (a smoke test).
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import shlex
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (OUT, BenchmarkError, CpuMeter, PhaseResult, commit, flask_cli,  # noqa: E402
                                free_port, percentile, prepare_database, reference_ms, server_env, settle_database,
                                start_gunicorn, stop)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
JSON_TYPE = {"Content-Type": "application/scim+json"}


class Directory:
    """The identity provider's side: keep-alive connections per thread, every request's status checked."""

    def __init__(self, port: int, token: str, threads: int) -> None:
        self.port, self.threads = port, threads
        self.headers = {"Authorization": f"Bearer {token}", **JSON_TYPE}
        self.local = threading.local()

    def call(self, method: str, path: str, body: Any, expected: int, result: PhaseResult) -> Any:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        connection.request(method, f"/scim/v2{path}", body=None if body is None else json.dumps(body),
                           headers=self.headers)
        response = connection.getresponse()
        data = response.read()
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.requests += 1
        if response.status != expected:
            result.add_error(f"{method} {path} answered {response.status}: {data[:200]!r}")
            return None
        return json.loads(data) if data else None

    def each(self, items: list[Any], action: Callable[[Any, PhaseResult], None]) -> tuple[PhaseResult, float]:
        result, lock = PhaseResult(), threading.Lock()

        def run(item: Any) -> None:
            mine = PhaseResult()
            action(item, mine)
            with lock:
                result.merge(mine)

        started = time.perf_counter()
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(run, items))
        return result, time.perf_counter() - started


def user_name(index: int) -> str:
    return f"person{index:05d}@example.org"


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    started_at = dt.datetime.now(dt.timezone.utc)
    run_dir = args.out or OUT / f"scim-{started_at:%Y%m%dT%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    database_url, postmaster = prepare_database(args.database_url, run_dir)
    port = free_port()
    env = server_env(database_url, f"http://127.0.0.1:{port}")
    flask_cli(env, "db", "upgrade")
    token = flask_cli(env, "create-api-token", "bench-directory", "--scope", "scim").splitlines()[-1]
    gunicorn_args = shlex.split(args.gunicorn_args)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    code = commit()
    server = start_gunicorn(env, port, gunicorn_args, "wsgi:app", run_dir / "gunicorn.log")
    directory = Directory(port, token, args.threads)
    people, groups = args.people, max(1, args.groups or args.people // 20)
    ids: dict[int, str] = {}
    group_ids: dict[int, str] = {}
    phases = []
    try:
        def measured(name: str, items: list[Any], action: Callable[[Any, PhaseResult], None]) -> None:
            reference = reference_ms()
            meter = CpuMeter({"server": [server.pid], "db": [postmaster] if postmaster else []})
            meter.start()
            result, wall = directory.each(items, action)
            cpu, steal = meter.stop()
            summary = {
                "phase": name, "requests": result.requests, "errors": result.errors,
                "error_samples": result.error_samples[:3], "wall_s": round(wall, 2),
                "requests_per_s": round(result.requests / wall, 1) if wall else None,
                "server_cpu_ms_per_request": round(cpu["server"] * 1000 / max(result.requests, 1), 2),
                "db_cpu_ms_per_request": round(cpu["db"] * 1000 / max(result.requests, 1), 2) if postmaster else None,
                "latency_ms": {"p50": round(percentile(result.latencies_ms, 0.5), 1),
                               "p95": round(percentile(result.latencies_ms, 0.95), 1)},
                "steal": round(steal, 3) if steal is not None else None, "reference_ms": reference,
            }
            phases.append(summary)
            print(json.dumps(summary), flush=True)

        def provision(index: int, result: PhaseResult) -> None:
            name = user_name(index)
            found = directory.call("GET", f"/Users?filter=userName%20eq%20%22{name}%22", None, 200, result)
            if found is None or found["totalResults"]:
                result.add_error(f"lookup of {name} before creating it: {found}")
                return
            created = directory.call("POST", "/Users", {
                "schemas": [USER], "userName": name, "externalId": f"ext-{index}", "active": True,
                "displayName": f"Person {index}", "name": {"givenName": "Person", "familyName": str(index)},
                "emails": [{"value": name, "type": "work", "primary": True}]}, 201, result)
            if created:
                ids[index] = created["id"]

        def create_group(index: int, result: PhaseResult) -> None:
            name = f"Team {index:04d}"
            directory.call("GET", f"/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Team%20{index:04d}%22",
                           None, 200, result)
            created = directory.call("POST", "/Groups", {"schemas": [GROUP], "displayName": name,
                                                         "externalId": f"grp-{index}"}, 201, result)
            if created is None:
                return
            group_ids[index] = created["id"]
            members = [{"value": ids[i]} for i in range(index, people, groups) if i in ids]
            directory.call("PATCH", f"/Groups/{created['id']}", {"schemas": [PATCH], "Operations": [
                {"op": "Add", "path": "members", "value": members}]}, 204, result)

        def move(index: int, result: PhaseResult) -> None:
            old, new = group_ids[index % groups], group_ids[(index + 1) % groups]
            directory.call("PATCH", f"/Groups/{old}", {"schemas": [PATCH], "Operations": [
                {"op": "Remove", "path": "members", "value": [{"value": ids[index]}]}]}, 204, result)
            directory.call("PATCH", f"/Groups/{new}", {"schemas": [PATCH], "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": ids[index]}]}]}, 204, result)

        def deactivate(index: int, result: PhaseResult) -> None:
            directory.call("PATCH", f"/Users/{ids[index]}", {"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "active", "value": "False"}]}, 200, result)

        measured("users", list(range(people)), provision)
        measured("groups", list(range(groups)), create_group)
        if postmaster:
            settle_database(database_url)
        measured("moves", list(range(0, people, 20)), move)
        measured("deactivations", list(range(7, people, 100)), deactivate)
        listing = PhaseResult()
        total = directory.call("GET", "/Users?count=1", None, 200, listing)
    finally:
        stop(server)
    return {"date": f"{started_at:%Y-%m-%d %H:%M} UTC", "command": "python -m benchmarks.scim_sync " + " ".join(argv),
            "database": "PostgreSQL" if postmaster else "SQLite", "people": people, "groups": groups,
            "threads": args.threads, "gunicorn": " ".join(gunicorn_args), "load_before": load_before, "commit": code,
            "phases": phases, "users_listed": total["totalResults"] if total else None}


def markdown(report: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {p['phase']} | {p['requests']:,} | {p['errors']} | {p['requests_per_s']} | {p['server_cpu_ms_per_request']} | "
        f"{p['db_cpu_ms_per_request'] if p['db_cpu_ms_per_request'] is not None else '-'} | "
        f"{p['latency_ms']['p50']} / {p['latency_ms']['p95']} |" for p in report["phases"])
    return (f"\n## Issue 19 (SCIM): sync of {report['people']:,} people and {report['groups']:,} groups on "
            f"{report['database']} ({report['date']})\n\n`{report['command']}` at {report['commit']}, gunicorn "
            f"`{report['gunicorn']}`, {report['threads']} client threads; load average before {report['load_before']}.\n\n"
            "| phase | requests | errors | requests/s | server CPU ms/request | PostgreSQL CPU ms/request | latency p50 / p95 ms |\n"
            "|---|---|---|---|---|---|---|\n" + rows + "\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scim_sync", description=__doc__.split("\n")[0])
    parser.add_argument("--people", "--devices", type=int, default=10_000, help="people to provision (default 10,000)")
    parser.add_argument("--groups", type=int, help="groups (default people / 20)")
    parser.add_argument("--database-url", help="PostgreSQL URL of a scratch database: its public schema is DROPPED")
    parser.add_argument("--threads", type=int, default=4, help="concurrent requests (default 4)")
    parser.add_argument("--gunicorn-args", default="--workers 2", help="gunicorn options besides --bind")
    parser.add_argument("--out", type=Path, help="where the run's files go (default benchmarks/out/scim-<time>)")
    parser.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        report = run(args, argv)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = markdown(report)
    print(table)
    if args.record:
        with RESULTS.open("a") as handle:
            handle.write(table)
    return 1 if any(p["errors"] for p in report["phases"]) else 0


if __name__ == "__main__":
    sys.exit(main())
