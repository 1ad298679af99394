"""Fan-out: one command to every device through the bulk API, delivered by push, timed to the last answer.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.fanout --devices 10000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mdm_bench  # emptied first!

Set-up (not measured): the APNs stand-in (``mdm_core.apns.standin``, real HTTP/2 and TLS with
client certificates) runs in its own process with a push log; its push certificate is imported
with ``flask apns import-cert``; gunicorn serves the portal and ``flask worker`` delivers
the push outbox to the stand-in, as in production. N simulated devices enroll over HTTP,
answer the inventory queued at enrollment, and sign their constant ``Idle`` report once.

The measured phase: one ``POST /api/v1/commands/bulk`` queues the command for every device
(the server records one push each). A device does nothing until the stand-in logs a push for
its token; then it connects with ``Idle``, receives the command, signs and sends its answer
(RSA on the load generator's CPU, as a phone signs on its own), and keeps answering until the
queue is empty. Reported: the time from the API call to the last acknowledgement, pushes sent
and received, requests and errors, push-to-acknowledgement latency, and the CPU of the web
server, the push worker, PostgreSQL, the stand-in and the load generator, with host steal and
the reference workload as in ``mdm_throughput``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import (BENCH_SECRET, COMMAND, OUT, REPO, BenchmarkError, ClientPool, CpuMeter,
                                EnrollingClient, PhaseResult, commit, ensure_keys, flask_cli, free_port, percentile,
                                prepare_database, reference_ms, report_main, serve_phases, server_env,
                                settle_database, start_gunicorn, stop)

GOAL_SECONDS = 120
REQUEST_TYPES = {"DeviceInformation": {"Queries": COMMAND["Queries"]}, "ProfileList": {}}


@dataclass
class FanoutResult(PhaseResult):
    """A client's share of the fan-out: ``latencies_ms`` per request, ``ack_latencies_ms`` from push to answer."""

    pushes: int = 0  # pushes the stand-in accepted for this client's devices
    acknowledged: int = 0
    served: int = 0  # devices whose command was acknowledged and whose queue was then empty
    ack_at: list[float] = field(default_factory=list)  # Unix time of each acknowledgement
    ack_latencies_ms: list[float] = field(default_factory=list)

    def merge(self, other: PhaseResult) -> None:
        super().merge(other)
        if isinstance(other, FanoutResult):
            self.pushes += other.pushes
            self.acknowledged += other.acknowledged
            self.served += other.served
            self.ack_at.extend(other.ack_at)
            self.ack_latencies_ms.extend(other.ack_latencies_ms)


class FanoutClient(EnrollingClient):
    """A load-generator process whose devices wake on the pushes the stand-in logs."""

    def phase_fanout(self, push_log: str, offset: int, request_type: str, timeout: float,
                     expected: list[int] | None = None) -> FanoutResult:
        """Tail the push log from ``offset``; each push for one of our devices wakes it on a pool thread.

        Returns when every device (of ``expected``, if given) was served, or after ``timeout`` seconds
        (each device left unserved is an error).
        """
        wanted = set(self.devices) if expected is None else set(self.devices) & set(expected)
        by_token = {device.push_token.hex(): index for index, device in self.devices.items()}
        busy = {index: threading.Lock() for index in self.devices}  # a phone handles one push at a time
        served: set[int] = set()
        total = FanoutResult()
        futures = []
        deadline = time.monotonic() + timeout
        with open(push_log, "rb") as log, ThreadPoolExecutor(max_workers=self.threads) as pool:
            log.seek(offset)
            pending = b""
            while not wanted <= served and time.monotonic() < deadline:
                chunk = log.read(1 << 16)
                if not chunk:
                    time.sleep(0.005)
                    continue
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    at, status, token = line.decode().split()
                    index = by_token.get(token)
                    if status == "200" and index is not None:
                        total.pushes += 1
                        futures.append(pool.submit(self._wake, index, float(at), request_type, busy[index], served))
        for future in futures:
            total.merge(future.result())
        for index in sorted(wanted - served):
            total.add_error(f"device {index}: not served within {timeout:.0f} s")
        total.served = len(served)
        return total

    def _reached(self, index: int, exchange, report: dict, goal: str) -> bool:
        """Is the answer the server just took the one the run waits for? Here: ``goal``, the command, acknowledged."""
        return exchange.request_type == goal and exchange.status == "Acknowledged"

    def _wake(self, index: int, pushed_at: float, request_type: str, busy: threading.Lock,
              served: set[int]) -> FanoutResult:
        """What a phone does on a push: Idle, then answer each command until the queue is empty."""
        from mdm_core import plist
        from mdm_core.simulator.device import COMMAND_CONTENT_TYPE, SimulatorError

        result = FanoutResult()
        device = self.devices[index]
        with busy:
            connection = self._connection()
            try:
                body, headers = self.idle[index]
                answered, acknowledged = None, False  # the exchange whose report is in flight
                while True:
                    content = self._put(connection, device, body, headers, result)
                    if content is None:  # the error is counted
                        return result
                    if answered is not None and self._reached(index, answered, report, request_type):
                        now = time.time()
                        acknowledged = True
                        result.acknowledged += 1
                        result.ack_at.append(now)
                        result.ack_latencies_ms.append((now - pushed_at) * 1000)
                    if not content:
                        if acknowledged:
                            served.add(index)
                        return result
                    answered, report = device.report_for(content)
                    body = plist.dumps(report)
                    headers = device.headers(body, COMMAND_CONTENT_TYPE)
            except SimulatorError as exc:
                result.add_error(f"device {index}: {exc}")
                return result
            finally:
                connection.close()


def client_main(connection, base_url: str, api_token: str, threads: int, indices: list[int]) -> None:
    """Entry point of a load-generator process."""
    serve_phases(connection, FanoutClient(base_url, api_token, indices, threads, "user"))


# The run -------------------------------------------------------------------------------------

def start_standin(files: dict[str, Path], push_log: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """The APNs stand-in in its own process (its CPU is APNs', not ours); returns it and its endpoint."""
    command = [sys.executable, "-m", "mdm_core.apns.standin", "--cert", str(files["server_cert"]),
               "--key", str(files["server_key"]), "--client-ca", str(files["push_ca"]), "--port", "0",
               "--quiet", "--push-log", str(push_log)]
    standin = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=log_path.open("w"),
                               text=True)
    for line in standin.stdout:
        if line.startswith("APNs stand-in listening on"):
            return standin, line.split()[-1]
    standin.wait(timeout=10)
    raise BenchmarkError(f"the APNs stand-in exited with {standin.returncode}; see {log_path}")


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``flask worker``: every background job (push delivery, desired state, Apps and Books), as in production."""
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=REPO,
                            env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def enrolled_device_ids(app) -> list[int]:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Device

    with app.app_context():
        ids = list(db.session.scalars(select(Device.id).where(Device.status == "enrolled").order_by(Device.id)))
        db.session.remove()
        db.engine.dispose()
    return ids


def wait_for_empty_outbox(app, timeout: float) -> None:
    """Wait until the push worker delivered every push recorded during the set-up."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import PushOutbox

    deadline = time.monotonic() + timeout
    with app.app_context():
        while (left := db.session.scalar(select(func.count()).select_from(PushOutbox))):
            db.session.remove()
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{left} pushes of the set-up still in the outbox after {timeout:.0f} s")
            time.sleep(0.5)
        db.session.remove()
        db.engine.dispose()


def pushes_logged(push_log: Path, offset: int) -> tuple[int, list[float]]:
    """What the stand-in answered since ``offset``: how many pushes it answered, and when it accepted each."""
    answered = [line.split() for line in push_log.read_bytes()[offset:].decode().splitlines()]
    return len(answered), [float(at) for at, status, _token in answered if status == "200"]


def per_interval(times: list[float], started: float, seconds: float = 10) -> list[int]:
    """How many of ``times`` fell in each ``seconds``-long interval after ``started``."""
    counts = [0] * (int(max(0.0, max(times, default=started) - started) // seconds) + 1)
    for at in times:
        counts[max(0, int((at - started) // seconds))] += 1
    return counts


def bulk_command(http, api_token: str, request_type: str, device_ids: list[int]) -> dict:
    response = http.post("/api/v1/commands/bulk", headers={"Authorization": f"Bearer {api_token}"},
                         json={"request_type": request_type, "device_ids": device_ids, **REQUEST_TYPES[request_type]})
    if response.status_code != 201:
        raise BenchmarkError(f"the bulk command answered {response.status_code}: {response.text[:500]}")
    return response.json()


def bulk_progress(http, api_token: str, bulk_id: str) -> dict[str, int]:
    response = http.get(f"/api/v1/commands/bulk/{bulk_id}", headers={"Authorization": f"Bearer {api_token}"})
    if response.status_code != 200:
        raise BenchmarkError(f"reading the bulk command answered {response.status_code}: {response.text[:500]}")
    return response.json()["progress"]


def summarise(result: FanoutResult, devices: int, started: float, api_seconds: float, bulk: dict,
              pushes: tuple[int, list[float]],
              progress: dict[str, int], cpu: dict[str, float], steal: float | None, idle: float | None,
              reference: float) -> dict:
    sent, accepted = pushes
    last_ack = round(max(result.ack_at) - started, 2) if result.ack_at else None
    errors = result.errors + bulk["refused"] + (sent - len(accepted))
    return {
        "phase": "fanout",
        "devices": devices,
        "queued": bulk["queued"],
        "refused": bulk["refused"],
        "served": result.served,
        "acknowledged": progress.get("acknowledged", 0),
        "errors": errors,
        "seconds_to_last_ack": last_ack,
        "goal_met": errors == 0 and result.served == devices and last_ack is not None and last_ack <= GOAL_SECONDS,
        "api_call_s": round(api_seconds, 2),
        "first_push_s": round(min(accepted) - started, 2) if accepted else None,
        "last_push_s": round(max(accepted) - started, 2) if accepted else None,
        "pushes_sent": sent,
        "pushes_accepted": len(accepted),
        "per_10_s": {"pushes": per_interval(accepted, started), "acks": per_interval(result.ack_at, started)},
        "pushes_received_by_devices": result.pushes,
        "device_requests": result.requests,
        "push_to_ack_ms": {name: round(percentile(result.ack_latencies_ms, q), 1)
                           for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0))},
        "request_ms": {"p50": round(percentile(result.latencies_ms, 0.50), 1),
                       "p99": round(percentile(result.latencies_ms, 0.99), 1)},
        **cpu_figures(cpu, devices, steal, idle),
        "web_cpu_ms_per_device_request": round(cpu["web"] * 1000 / max(result.requests, 1), 2),
        "reference_ms": reference,
        "error_samples": result.error_samples,
    }


def markdown(report: dict) -> str:
    phase = report["phase"]
    cpu = phase["cpu_s"]
    latency = phase["push_to_ack_ms"]
    db = "-" if phase["db_cpu_ms_per_device"] is None else f"{cpu['db']} s ({phase['db_cpu_ms_per_device']} ms)"
    return "\n".join([
        f"### {report['database']}, N={report['devices']} ({report['date']})",
        "",
        f"`{report['command']}`",
        "",
        f"gunicorn `{report['gunicorn']}`; {report['push_workers']} push worker(s); {report['clients']} client "
        f"processes x {report['threads']} threads; command {report['request_type']}; load before: "
        f"{report['load_before']}; commit {report['commit']}; web worker RSS {report['web_worker_rss_mb']} MB",
        "",
        "| to last ack s | served | errors | bulk API call s | pushes sent / accepted | last push s "
        "| push-to-ack p50 / p90 / p99 ms | device requests | server CPU s (ms/device) | DB CPU s (ms/device) "
        "| stand-in / client CPU s | host idle / steal % | reference ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {phase['seconds_to_last_ack']} | {phase['served']}/{phase['devices']} | {phase['errors']} | "
        f"{phase['api_call_s']} | {phase['pushes_sent']} / {phase['pushes_accepted']} | {phase['last_push_s']} | "
        f"{latency['p50']} / {latency['p90']} / {latency['p99']} | {phase['device_requests']} | "
        f"{round(cpu['web'] + cpu['push_worker'], 2)} ({phase['server_cpu_ms_per_device']}; web {cpu['web']}, "
        f"push worker {cpu['push_worker']}) | {db} | {cpu['standin']} / {cpu['clients']} | "
        f"{phase['host_idle_percent']} / {phase['host_steal_percent']} | {phase['reference_ms']} |",
        "",
        f"Goal (0 errors, every device served within {GOAL_SECONDS} s): "
        f"{'met' if phase['goal_met'] else 'NOT met'}. Bulk command progress: {report['progress']}",
        "",
        f"Per 10 s from the API call: pushes accepted {phase['per_10_s']['pushes']}, "
        f"acknowledgements {phase['per_10_s']['acks']}",
        "",
        *setup_markdown(report["setup"], "set-up (not the fan-out)"),
    ])


def setup_markdown(setup: dict, title: str) -> list[str]:
    """The set-up's figures as a Markdown table."""
    return [f"| {title} | wall s | requests | errors | server CPU ms/device | DB CPU ms/device |",
            "|---|---|---|---|---|---|",
            *(f"| {name} | {f['wall_s']} | {f['requests']} | {f['errors']} | {f['server_cpu_ms_per_device']} | "
              f"{'-' if f['db_cpu_ms_per_device'] is None else f['db_cpu_ms_per_device']} |"
              for name, f in setup.items())]


def fleet_arguments(parser: argparse.ArgumentParser, timeout: float, devices: int = 1000, push_workers: bool = True,
                    waits_for: str = "their push") -> argparse.ArgumentParser:
    """The options of ``fleet`` (and ``--timeout``, seconds the devices wait for ``waits_for`` in a phase);
    ``push_workers=False`` for a benchmark that starts one worker whatever is asked."""
    parser.add_argument("--devices", type=int, default=devices, help=f"simulated devices (default {devices})")
    parser.add_argument("--database-url", help="PostgreSQL URL of a scratch database: its public schema is DROPPED "
                                               "first (default: a fresh SQLite file in the run's folder)")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--threads", type=int, default=3, help="devices in flight per client process (default 3)")
    parser.add_argument("--gunicorn-args", default="--workers 2",
                        help="gunicorn options besides --bind (default: '--workers 2')")
    if push_workers:
        parser.add_argument("--push-workers", type=int, default=1, help="flask worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help=f"seconds the devices wait for {waits_for} (default {timeout:.0f})")
    parser.add_argument("--key-processes", type=int, default=os.cpu_count() or 1,
                        help="processes generating missing device keys (default: one per core)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the run's folder is made (default benchmarks/out)")
    parser.add_argument("--json", type=Path, help="also write the full report as JSON here")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=__doc__.split("\n")[0])
    parser.add_argument("--request-type", choices=sorted(REQUEST_TYPES), default="DeviceInformation",
                        help="the command sent to every device (default DeviceInformation with "
                             f"{', '.join(COMMAND['Queries'])})")
    return fleet_arguments(parser, timeout=600).parse_args(argv)


SERVER = ("web", "push_worker")  # the meter's roots that are the portal's server CPU


def cpu_figures(cpu: dict[str, float], devices: int, steal: float | None, idle: float | None,
                server: tuple[str, ...] = SERVER) -> dict:
    """A measured phase's CPU (seconds per process tree, the server's and the database's per device) and
    the host's steal and idle shares."""
    def per_device(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000 / max(devices, 1), 2)

    return {"cpu_s": {name: round(seconds, 2) for name, seconds in cpu.items()},
            "server_cpu_ms_per_device": per_device(sum(cpu[name] for name in server)),
            "db_cpu_ms_per_device": per_device(cpu.get("db")),
            "host_steal_percent": None if steal is None else round(steal * 100, 1),
            "host_idle_percent": None if idle is None else round(idle * 100, 1)}


def setup_figures(result: PhaseResult, wall: float, cpu: dict[str, float], devices: int,
                  server: tuple[str, ...] = SERVER) -> dict:
    """What a set-up phase cost (not the measured phase; the same meter, for sizing)."""
    return {"wall_s": round(wall, 1), "requests": result.requests, "errors": result.errors,
            "server_cpu_ms_per_device": round(sum(cpu[name] for name in server) * 1000 / devices, 2),
            "db_cpu_ms_per_device": round(cpu["db"] * 1000 / devices, 2) if "db" in cpu else None}


def run_setup(clients: ClientPool, meter: CpuMeter, phases: tuple[str, ...], devices: int,
              server: tuple[str, ...] = SERVER) -> dict:
    """Load the device keys, then run each set-up phase on the meter; its figures by phase (printed as they
    come). Raises :class:`BenchmarkError` at the first phase with an error."""
    clients.step("load_keys")
    setup = {}
    for phase in phases:
        meter.start()
        result, wall = clients.step(phase)
        setup[phase] = setup_figures(result, wall, meter.stop()[0], devices, server)
        print(json.dumps({"phase": phase, **setup[phase]}), flush=True)
        if result.errors:
            raise BenchmarkError(f"{phase} failed: {result.error_samples}")
    return setup


def portal_app(backbone: "Backbone"):
    """The portal in this process, on the run's database (to read and seed it; the server is gunicorn)."""
    from portal import create_app

    app = create_app({"DATABASE_URL": backbone.database_url, "SECRET_KEY": BENCH_SECRET,
                      "PUBLIC_URL": backbone.base_url})
    logging.getLogger("httpx").setLevel(logging.WARNING)  # create_app logs every request at INFO
    return app


def worker_rss_mb(master: int) -> list[float]:
    """Resident memory of each gunicorn worker (the master's children), in MB."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(round(int(status.split("VmRSS:")[1].split()[0]) / 1024, 1))
    return sizes


@dataclass
class Stack:
    """What ``fleet`` set up: the processes, the enrolled devices' load generators and the CPU meter."""

    run_dir: Path
    database_url: str
    postmaster: int | None
    base_url: str
    api_token: str
    push_log: Path
    server: subprocess.Popen
    app: object
    clients: ClientPool
    meter: CpuMeter
    setup: dict = field(default_factory=dict)


@dataclass
class Backbone:
    """What every push-driven benchmark starts before the portal (``start_stack``): the run's folder,
    the scratch database, the APNs stand-in and the portal's environment; ``report`` holds the run's facts."""

    run_dir: Path
    database_url: str
    postmaster: int | None
    files: dict[str, Path]
    push_log: Path
    standin: subprocess.Popen
    port: int
    base_url: str
    env: dict[str, str]
    report: dict


def start_stack(args: argparse.Namespace, name: str) -> Backbone:
    """The run's folder, a fresh database and the APNs stand-in; the portal's environment points at them."""
    from mdm_core.apns.standin_pki import create_standin_pki

    started_at = dt.datetime.now(dt.timezone.utc)
    run_dir = args.out / f"{name.replace('_', '-')}-{started_at:%Y%m%dT%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    ensure_keys(args.devices, args.key_processes)
    database_url, postmaster = prepare_database(args.database_url, run_dir)
    files = create_standin_pki().write(run_dir / "apns")
    push_log = run_dir / "pushes.log"
    push_log.touch()
    standin, endpoint = start_standin(files, push_log, run_dir / "standin.log")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(database_url, base_url, APNS_ENDPOINT=endpoint, APNS_CA_BUNDLE=str(files["server_ca"]))
    report = {"date": f"{started_at:%Y-%m-%d %H:%M} UTC",
              "database": "PostgreSQL" if postmaster else "SQLite", "devices": args.devices,
              "clients": args.clients, "threads": args.threads, "gunicorn": args.gunicorn_args,
              "load_before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
              "commit": commit(),  # the code gunicorn loads now; a long run may outlast later commits
              "python": platform.python_version(), "run_dir": str(run_dir)}
    return Backbone(run_dir, database_url, postmaster, files, push_log, standin, port, base_url, env, report)


def start_portal(backbone: Backbone, args: argparse.Namespace) -> tuple[str, subprocess.Popen]:
    """Migrate, import the push certificate, issue an API token and start gunicorn; returns the token and it."""
    env, files = backbone.env, backbone.files
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "apns", "import-cert", str(files["push_cert"]), "--key", str(files["push_key"]))
    api_token = flask_cli(env, "create-api-token", "bench").splitlines()[-1]
    server = start_gunicorn(env, backbone.port, shlex.split(args.gunicorn_args), "wsgi:app",
                            backbone.run_dir / "gunicorn.log")
    return api_token, server


@contextmanager
def fleet(args: argparse.Namespace, name: str, report: dict):
    """Set up (not measured): the APNs stand-in, gunicorn and ``--push-workers`` workers on a fresh database,
    and ``--clients`` load generators whose ``--devices`` devices are enrolled, their inventory answered and
    their Idle reports signed. Fills ``report``'s run facts; stops every process on the way out."""
    backbone = start_stack(args, name)
    run_dir, database_url, postmaster, push_log = (backbone.run_dir, backbone.database_url, backbone.postmaster,
                                                   backbone.push_log)
    standin, base_url, env = backbone.standin, backbone.base_url, backbone.env
    servers = [standin]
    report.update({**backbone.report, "push_workers": args.push_workers})
    try:
        api_token, server = start_portal(backbone, args)
        servers.append(server)
        workers = [start_worker(env, run_dir / f"push-worker-{n}.log") for n in range(args.push_workers)]
        servers.extend(workers)
        app = portal_app(backbone)
        with ClientPool(client_main, (base_url, api_token, args.threads), args.devices, args.clients,
                        FanoutResult) as clients:
            roots = {"web": [server.pid], "push_worker": [w.pid for w in workers], "standin": [standin.pid],
                     "clients": clients.pids}
            meter = CpuMeter({**roots, "db": [postmaster]} if postmaster else roots)
            stack = Stack(run_dir, database_url, postmaster, base_url, api_token, push_log, server, app, clients, meter,
                          run_setup(clients, meter, ("enroll", "inventory"), args.devices))
            wait_for_empty_outbox(app, timeout=120)
            yield stack
    finally:
        for process in reversed(servers):
            stop(process)


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """Set up, run the measured fan-out, tear down; returns the report."""
    import httpx

    report = {"command": "python -m benchmarks.fanout " + " ".join(shlex.quote(a) for a in argv),
              "request_type": args.request_type}
    with fleet(args, "fanout", report) as stack:
        report["setup"] = stack.setup
        clients, meter, push_log = stack.clients, stack.meter, stack.push_log
        if stack.postmaster:
            settle_database(stack.database_url)
        clients.step("presign")
        device_ids = enrolled_device_ids(stack.app)

        reference = reference_ms()
        offset = push_log.stat().st_size
        with httpx.Client(base_url=stack.base_url, timeout=600) as http:
            meter.start()
            clients.send("fanout", str(push_log), offset, args.request_type, args.timeout)
            started = time.time()
            bulk = bulk_command(http, stack.api_token, args.request_type, device_ids)
            api_seconds = time.time() - started
            print(f"bulk command {bulk['bulk_id']}: {bulk['queued']} queued, {bulk['refused']} refused "
                  f"in {api_seconds:.1f} s", flush=True)
            result = clients.collect("fanout")
            cpu, steal = meter.stop()
            report["web_worker_rss_mb"] = worker_rss_mb(stack.server.pid)
            report["progress"] = bulk_progress(http, stack.api_token, bulk["bulk_id"])
        report["phase"] = summarise(result, args.devices, started, api_seconds, bulk,
                                    pushes_logged(push_log, offset), report["progress"], cpu, steal, meter.idle,
                                    reference)
        print(json.dumps(report["phase"]), flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    return report_main(sys.argv[1:] if argv is None else argv, parse_args, run, markdown)


if __name__ == "__main__":
    sys.exit(main())
