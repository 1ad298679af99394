"""MDM throughput: N simulated devices against gunicorn, measured as server CPU per request.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.mdm_throughput --devices 1000                       # SQLite
    python -m benchmarks.mdm_throughput --devices 1000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mdm_bench  # emptied first!

Phases, each timed and measured on its own:

``enroll``
    every device mints a profile through the API, enrolls over SCEP, sends Authenticate and
    TokenUpdate (6 requests a device; allowed to be slow, dominated by RSA work).
``idle``
    every device connects once with a (pre-signed, constant) ``Idle`` report: empty queue.
``commands``
    one DeviceInformation command is queued for every device and each device signs its answer
    to it (set-up, not measured); every device connects with ``Idle``, receives the command
    and reports ``Acknowledged`` with the answer (2 requests a device).

The figure that matters is the CPU the server spends per request: the utime+stime of the
gunicorn master and workers (and, separately, of every PostgreSQL process of the cluster)
read from /proc before and after each phase, divided by the phase's requests. Requests per
second are reported too, but on a small machine they mostly measure the client's signing.
Requests are signed before a measured phase starts: a phone signs on its own CPU, and RSA
signing in the load generator would compete with the server for this machine's cores.

The load generator runs in separate processes (``--clients``), each driving its share of the
devices with a few threads (``--threads``). Device keys (RSA-2048, ~0.1 s each to make) are
cached under ``benchmarks/out/keys/`` and generated in a process pool on first use.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
from pathlib import Path

from benchmarks.harness import (BENCH_SECRET, COMMAND, OUT, SETTINGS_REPORTED, BenchmarkError, ClientPool, CpuMeter,
                                EnrollingClient, PhaseResult, commit, ensure_keys, final_state, flask_cli,
                                free_port, percentile, prepare_database, reference_ms, serve_phases,
                                server_env, settle_database, start_gunicorn, stop)

PHASES = ("enroll", "idle", "commands")


class Client(EnrollingClient):
    """One load-generator process: its devices, their pre-signed Idle bodies, a thread pool."""

    def __init__(self, base_url: str, api_token: str, indices: list[int], threads: int, enrollment_type: str,
                 idle_rounds: int = 1):
        super().__init__(base_url, api_token, indices, threads, enrollment_type)
        self.idle_rounds = idle_rounds
        self.acks: dict[int, tuple[bytes, bytes, dict[str, str]]] = {}  # command expected, answer, headers

    def phase_presign_answers(self, commands: dict[str, bytes]) -> PhaseResult:
        """Run each device's queued command (by its identifier) and sign the answer (not measured)."""
        from mdm_core import plist
        from mdm_core.simulator.device import COMMAND_CONTENT_TYPE

        result = PhaseResult()
        for index, device in self.devices.items():
            command = commands.get(device.identifier)
            if command is None:
                result.add_error(f"device {index}: no command was queued for it")
                continue
            _exchange, report = device.report_for(command)
            body = plist.dumps(report)
            self.acks[index] = command, body, device.headers(body, COMMAND_CONTENT_TYPE)
        return result

    def phase_idle(self) -> PhaseResult:
        def idle(index: int) -> PhaseResult:
            result = PhaseResult()
            device = self.devices.get(index)
            if device is None:
                return result
            body, headers = self.idle[index]
            connection = self._connection()
            content = self._put(connection, device, body, headers, result)
            connection.close()
            if content:
                result.add_error(f"device {index}: Idle with an empty queue answered {len(content)} bytes")
            return result

        total = PhaseResult()
        for _round in range(self.idle_rounds):
            total.merge(self._each(idle))
        return total

    def phase_commands(self) -> PhaseResult:
        def round_trip(index: int) -> PhaseResult:
            result = PhaseResult()
            device = self.devices.get(index)
            if device is None:
                return result
            connection = self._connection()
            try:
                body, headers = self.idle[index]
                command = self._put(connection, device, body, headers, result)
                if command is None:
                    return result
                expected, body, headers = self.acks[index]
                if command != expected:
                    result.add_error(f"device {index}: received {command[:200]!r}, not its queued command")
                    return result
                rest = self._put(connection, device, body, headers, result)
                if rest:
                    result.add_error(f"device {index}: a second command was delivered")
            finally:
                connection.close()
            return result

        return self._each(round_trip)


def client_main(connection, base_url: str, api_token: str, threads: int, enrollment_type: str,
                idle_rounds: int, indices: list[int]) -> None:
    """Entry point of a load-generator process: run the phases the parent sends, one by one."""
    serve_phases(connection, Client(base_url, api_token, indices, threads, enrollment_type, idle_rounds))


# The run -------------------------------------------------------------------------------------

def queue_commands(app) -> dict[str, bytes]:
    """Queue one DeviceInformation command for every enrolled device, as the API would;
    returns each command's plist by the enrollment's identifier (EnrollmentID or UDID)."""
    from sqlalchemy import select

    from portal.remote_commands import enqueue
    from portal.extensions import db
    from portal.models import Device

    with app.app_context():
        devices = db.session.scalars(select(Device).where(Device.status == "enrolled")).all()
        commands = {device.enrollment_id or device.udid: enqueue(device, dict(COMMAND), created_by="benchmark").payload
                    for device in devices}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return commands


def summarise(name: str, result: PhaseResult, wall: float, server_cpu: float, db_cpu: float | None,
              client_cpu: float, devices: int, steal: float | None, reference: float) -> dict:
    requests = max(result.requests, 1)
    summary = {
        "phase": name,
        "devices": devices,
        "requests": result.requests,
        "errors": result.errors,
        "wall_s": round(wall, 2),
        "requests_per_s": round(result.requests / wall, 1) if wall else None,
        "server_cpu_ms_per_request": round(server_cpu * 1000 / requests, 2),
        "db_cpu_ms_per_request": None if db_cpu is None else round(db_cpu * 1000 / requests, 2),
        "client_cpu_ms_per_request": round(client_cpu * 1000 / requests, 2),
        "host_steal_percent": None if steal is None else round(steal * 100, 1),
        "reference_ms": reference,
        "error_samples": result.error_samples,
    }
    label = "device" if name == "enroll" else "request"
    summary[f"latency_ms_per_{label}"] = {
        "p50": round(percentile(result.latencies_ms, 0.50), 1),
        "p90": round(percentile(result.latencies_ms, 0.90), 1),
        "p99": round(percentile(result.latencies_ms, 0.99), 1),
        "max": round(max(result.latencies_ms), 1) if result.latencies_ms else None,
        "mean": round(statistics.fmean(result.latencies_ms), 1) if result.latencies_ms else None,
    }
    return summary


def markdown(report: dict) -> str:
    lines = [
        f"### {report['database']}, N={report['devices']} ({report['date']})",
        "",
        f"`{report['command']}`",
        "",
        f"gunicorn `{report['gunicorn']}`; settings {report['settings'] or 'default'}; "
        f"{report['clients']} client processes x {report['threads']} threads; "
        f"load before: {report['load_before']}; commit {report['commit']}",
        "",
        "| phase | requests | errors | req/s | p50 ms | p90 ms | p99 ms | server CPU ms/req | DB CPU ms/req "
        "| host steal % | reference ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in report["phases"]:
        latency = phase.get("latency_ms_per_request") or phase.get("latency_ms_per_device")
        db_cpu = "-" if phase["db_cpu_ms_per_request"] is None else phase["db_cpu_ms_per_request"]
        name = phase["phase"] + (" (latency per device)" if phase["phase"] == "enroll" else "")
        lines.append(f"| {name} | {phase['requests']} | {phase['errors']} | {phase['requests_per_s']} | "
                     f"{latency['p50']} | {latency['p90']} | {latency['p99']} | "
                     f"{phase['server_cpu_ms_per_request']} | {db_cpu} | {phase['host_steal_percent']} | "
                     f"{phase['reference_ms']} |")
    lines.append("")
    lines.append(f"Final state: {report['final_state']}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mdm_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000, help="simulated devices (default 1000)")
    parser.add_argument("--database-url", help="PostgreSQL URL of a scratch database: its public schema is DROPPED "
                                               "first (default: a fresh SQLite file under benchmarks/out/)")
    parser.add_argument("--idle-rounds", type=int, default=1, help="idle connects per device in the idle phase (default 1)")
    parser.add_argument("--enrollment-type", choices=("user", "device"), default="user")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--threads", type=int, default=3, help="concurrent devices per client process (default 3)")
    parser.add_argument("--gunicorn-args", default="--workers 2",
                        help="gunicorn options besides --bind (default: '--workers 2')")
    parser.add_argument("--wsgi-app", default="wsgi:app", help="the WSGI application gunicorn serves (default wsgi:app)")
    parser.add_argument("--key-processes", type=int, default=os.cpu_count() or 1,
                        help="processes generating missing device keys (default: one per core)")
    parser.add_argument("--json", type=Path, help="also write the full report as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = dt.datetime.now(dt.timezone.utc)
    run_dir = OUT / f"run-{started_at:%Y%m%dT%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    ensure_keys(args.devices, args.key_processes)

    database_url, postmaster = prepare_database(args.database_url, run_dir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(database_url, base_url)
    flask_cli(env, "db", "upgrade")
    api_token = flask_cli(env, "create-api-token", "bench").splitlines()[-1]
    gunicorn_args = shlex.split(args.gunicorn_args)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    code = commit()  # the code gunicorn loads now; a long run may outlast later commits
    server = start_gunicorn(env, port, gunicorn_args, args.wsgi_app, run_dir / "gunicorn.log")

    try:
        with ClientPool(client_main, (base_url, api_token, args.threads, args.enrollment_type, args.idle_rounds),
                        args.devices, args.clients) as clients:
            def measured(phase: str) -> dict:
                reference = reference_ms()
                meter = CpuMeter({"server": [server.pid], "db": [postmaster] if postmaster else [],
                                  "clients": clients.pids})
                meter.start()
                result, wall = clients.step(phase)
                cpu, steal = meter.stop()
                summary = summarise(phase, result, wall, cpu["server"], cpu["db"] if postmaster else None,
                                    cpu["clients"], args.devices, steal, reference)
                print(json.dumps(summary), flush=True)
                return summary

            from portal import create_app

            app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": BENCH_SECRET, "PUBLIC_URL": base_url})
            clients.step("load_keys")
            phases = [measured("enroll")]
            inventory, _ = clients.step("inventory")
            if inventory.errors:
                raise BenchmarkError(f"answering the enrollment inventory failed: {inventory.error_samples}")
            print(f"answered {inventory.requests} inventory commands queued at enrollment", flush=True)
            if postmaster:
                settle_database(database_url)
            clients.step("presign")
            phases.append(measured("idle"))
            commands = queue_commands(app)
            print(f"queued {len(commands)} commands", flush=True)
            presigned, _ = clients.step("presign_answers", commands)
            if presigned.errors:
                raise BenchmarkError(f"signing the answers failed: {presigned.error_samples}")
            if postmaster:
                settle_database(database_url)
            phases.append(measured("commands"))
            state = final_state(app)
    finally:
        stop(server)

    report = {
        "date": f"{started_at:%Y-%m-%d %H:%M} UTC",
        "command": (" ".join(f"{name}={value}" for name, value in os.environ.items() if name in SETTINGS_REPORTED)
        + " python -m benchmarks.mdm_throughput " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))).strip(),
        "database": "PostgreSQL" if postmaster else "SQLite",
        "devices": args.devices,
        "clients": args.clients,
        "threads": args.threads,
        "gunicorn": " ".join(gunicorn_args),
        "settings": {name: os.environ[name] for name in SETTINGS_REPORTED if name in os.environ},
        "load_before": " ".join(load_before),
        "commit": code,
        "python": platform.python_version(),
        "phases": phases,
        "final_state": state,
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print()
    print(markdown(report))
    errors = sum(p["errors"] for p in phases)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
