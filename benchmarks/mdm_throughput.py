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
import http.client
import json
import multiprocessing
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
KEY_DIR = OUT / "keys"
BENCH_SECRET = "benchmark-secret-key-not-for-production-0123456789"
PHASES = ("enroll", "idle", "commands")
COMMAND = {"RequestType": "DeviceInformation", "Queries": ["OSVersion", "BuildVersion", "ModelName", "DeviceName"]}
ENROLL_REQUESTS_PER_DEVICE = 6  # mint profile, GetCACaps, GetCACert, PKIOperation, Authenticate, TokenUpdate
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SETTINGS_REPORTED = ("DATABASE_PRE_PING",)  # portal settings that change the figures, passed on to gunicorn


class BenchmarkError(RuntimeError):
    """The set-up failed (server did not start, database unreachable...); the message says where."""


# Device keys ---------------------------------------------------------------------------------

def _key_path(index: int) -> Path:
    return KEY_DIR / f"rsa2048-{index:06d}.der"


def _generate_key(index: int) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    temporary = _key_path(index).with_suffix(".tmp")
    temporary.write_bytes(der)
    temporary.rename(_key_path(index))


def ensure_keys(count: int, processes: int) -> None:
    """Generate the device keys not cached yet, in a pool of niced processes."""
    KEY_DIR.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not _key_path(i).exists()]
    if not missing:
        return
    print(f"generating {len(missing)} RSA-2048 device keys in {KEY_DIR} (cached for later runs)...", flush=True)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=processes, initializer=os.nice, initargs=(10,)) as pool:
        for done, _ in enumerate(pool.map(_generate_key, missing, chunksize=64), start=1):
            if done % 1000 == 0:
                print(f"  {done}/{len(missing)} keys", flush=True)
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)


def load_key(index: int):
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    return load_der_private_key(_key_path(index).read_bytes(), None, unsafe_skip_rsa_key_validation=True)


# CPU accounting ------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks incl. reaped children) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), sum(int(v) for v in fields[11:15])  # utime stime cutime cstime


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and every descendant, including descendants that already exited.

    A process's own utime/stime plus the cutime/cstime of children it reaped: summed over the
    live tree this stays correct when a worker is restarted during a phase.
    """
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                stats[int(entry.name)] = stat
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _ticks) in stats.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(stats[pid][1] for pid in tree if pid in stats) / CLOCK_TICKS


def host_cpu_ticks() -> tuple[int, int]:
    """(all ticks, steal ticks) of this machine's CPUs, from the first line of /proc/stat.

    Steal is time the hypervisor gave this VM's virtual CPUs to someone else; on a shared VM it
    is what makes the same code measure differently from one run to the next.
    """
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]  # user nice system idle iowait irq softirq steal (guest is in user)


def reference_ms(rounds: int = 3) -> float:
    """CPU milliseconds of a fixed pure-Python workload (plist round trips), best of ``rounds``.

    Taken before each phase, it tells how fast this machine is at that moment: on a shared VM
    the same code measures up to twice as slow from one hour to the next, and only figures
    taken at a similar reference speed compare.
    """
    import plistlib

    body = plistlib.dumps({"Status": "Acknowledged", "CommandUUID": "0" * 36,
                           "QueryResponses": {key: f"value of {key}" for key in COMMAND["Queries"]}})
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(2000):
            plistlib.dumps(plistlib.loads(body))
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


# Client processes ----------------------------------------------------------------------------

@dataclass
class PhaseResult:
    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def add_error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message[:300])

    def merge(self, other: "PhaseResult") -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latencies_ms.extend(other.latencies_ms)
        self.error_samples.extend(other.error_samples[: max(0, 5 - len(self.error_samples))])


class Client:
    """One load-generator process: its devices, their pre-signed Idle bodies, a thread pool."""

    def __init__(self, base_url: str, api_token: str, indices: list[int], threads: int, enrollment_type: str,
                 idle_rounds: int = 1):
        import httpx

        self.idle_rounds = idle_rounds
        self.base_url = base_url
        self.api_token = api_token
        self.indices = indices
        self.threads = threads
        self.enrollment_type = enrollment_type
        self.http = httpx.Client(base_url=base_url, timeout=120.0,
                                 limits=httpx.Limits(max_connections=threads, max_keepalive_connections=threads))
        self.keys: dict[int, object] = {}
        self.devices: dict[int, object] = {}
        self.idle: dict[int, tuple[bytes, dict[str, str]]] = {}
        self.acks: dict[int, tuple[bytes, bytes, dict[str, str]]] = {}  # command expected, answer, headers
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port

    def run(self, phase: str, *args) -> PhaseResult:
        return getattr(self, f"phase_{phase}")(*args)

    def _each(self, action) -> PhaseResult:
        total = PhaseResult()
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for result in pool.map(action, list(self.indices)):
                total.merge(result)
        return total

    def phase_load_keys(self) -> PhaseResult:
        self.keys = {i: load_key(i) for i in self.indices}
        return PhaseResult()

    def phase_enroll(self) -> PhaseResult:
        from mdm_core.simulator import SimulatedDevice
        from mdm_core.simulator.__main__ import mint_profile

        def enroll(index: int) -> PhaseResult:
            result = PhaseResult(requests=ENROLL_REQUESTS_PER_DEVICE)
            device = SimulatedDevice(self.enrollment_type, scep_key=self.keys[index])
            started = time.perf_counter()
            try:
                profile = mint_profile(self.http, self.base_url, self.api_token, self.enrollment_type,
                                       f"bench-{index}@example.com")
                device.install_profile(profile, self.http)
            except Exception as exc:  # counted and sampled: one device must not stop the run
                result.add_error(f"device {index}: {exc}")
                return result
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            self.devices[index] = device
            return result

        return self._each(enroll)

    def phase_inventory(self) -> PhaseResult:
        """Answer the inventory round the server queues at enrollment, as a phone does (not measured)."""
        def answer(index: int) -> PhaseResult:
            result = PhaseResult()
            device = self.devices.get(index)
            if device is None:
                return result
            try:
                result.requests = len(device.poll(self.http))
            except Exception as exc:  # counted and sampled: one device must not stop the run
                result.add_error(f"device {index}: {exc}")
            return result

        return self._each(answer)

    def phase_presign(self) -> PhaseResult:
        """Sign each device's constant Idle report once (not measured)."""
        from mdm_core import plist
        from mdm_core.simulator.device import COMMAND_CONTENT_TYPE

        for index, device in self.devices.items():
            body = plist.dumps(device.idle_report())
            self.idle[index] = body, device.headers(body, COMMAND_CONTENT_TYPE)
        return PhaseResult()

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

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def _put(self, connection: http.client.HTTPConnection, device, body: bytes,
             headers: dict[str, str], result: PhaseResult) -> bytes | None:
        path = urlsplit(device.settings.server_url).path
        started = time.perf_counter()
        try:
            connection.request("PUT", path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            result.add_error(f"PUT {path}: {exc.__class__.__name__}: {exc}")
            return None
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.requests += 1
        if response.status != 200:
            result.add_error(f"PUT {path} answered {response.status}: {content[:200]!r}")
            return None
        return content

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


def client_main(connection, base_url: str, api_token: str, indices: list[int], threads: int,
                enrollment_type: str, idle_rounds: int) -> None:
    """Entry point of a load-generator process: run the phases the parent sends, one by one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    client = Client(base_url, api_token, indices, threads, enrollment_type, idle_rounds)
    while True:
        message = connection.recv()
        if message is None:
            return
        try:
            connection.send(asdict(client.run(*message)))
        except Exception as exc:  # report it to the parent rather than hang it
            connection.send({"fatal": f"{exc.__class__.__name__}: {exc}"})


# Server, database and the run ----------------------------------------------------------------

def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def _commit() -> str:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return _git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(url: str | None, run_dir: Path) -> tuple[str, int | None]:
    """The database URL to use (fresh), and the PostgreSQL postmaster pid for CPU accounting."""
    if url is None:
        path = run_dir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}", None
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        data_directory = conn.execute(text("SHOW data_directory")).scalar_one()
    engine.dispose()
    try:
        postmaster = int((Path(data_directory) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        raise BenchmarkError(f"cannot read {data_directory}/postmaster.pid: run the benchmark on the "
                             "database host as a user who can read it") from None
    return url, postmaster


def settle_database(url: str) -> None:
    """``VACUUM ANALYZE`` a PostgreSQL database after the set-up's bulk writes (not measured).

    The set-up writes in minutes what a server sees once (every device enrolled and inventoried,
    a command queued for the whole fleet in one transaction); left alone, autovacuum catches up
    during the next phase and shares this machine's cores with the measurement. A live database
    has long caught up; the rows a phase itself writes are still vacuumed whenever PostgreSQL
    decides, and that CPU is counted as the database's.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def flask_cli(env: dict[str, str], *args: str) -> str:
    completed = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=REPO, env=env,
                               capture_output=True, text=True)
    if completed.returncode != 0:
        raise BenchmarkError(f"flask {' '.join(args)} failed:\n{completed.stderr[-2000:]}")
    return completed.stdout.strip()


def start_gunicorn(env: dict[str, str], port: int, gunicorn_args: list[str], wsgi_app: str,
                   log_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *gunicorn_args, wsgi_app]
    log = log_path.open("w")
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchmarkError(f"gunicorn exited with {server.returncode}; see {log_path}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise BenchmarkError(f"gunicorn did not answer /healthz within 30 s; see {log_path}")


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


def final_state(app) -> dict[str, int]:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import Command, Device

    with app.app_context():
        state = {
            "devices_enrolled": db.session.scalar(select(func.count()).where(Device.status == "enrolled")),
            "commands_acknowledged": db.session.scalar(select(func.count()).where(Command.status == "acknowledged")),
            "commands_total": db.session.scalar(select(func.count()).select_from(Command)),
        }
        db.session.remove()
        db.engine.dispose()
    return state


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


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
    # every simulated device enrolls from 127.0.0.1: the per-address SCEP limit would stop all but the first few
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": BENCH_SECRET, "PUBLIC_URL": base_url,
           "LOG_FORMAT": "text", "RATE_LIMITS": "scep.ip=off"}
    flask_cli(env, "db", "upgrade")
    api_token = flask_cli(env, "create-api-token", "bench").splitlines()[-1]
    gunicorn_args = shlex.split(args.gunicorn_args)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    commit = _commit()  # the code gunicorn loads now; a long run may outlast later commits
    server = start_gunicorn(env, port, gunicorn_args, args.wsgi_app, run_dir / "gunicorn.log")

    context = multiprocessing.get_context("spawn")
    shares = [list(range(args.devices))[n::args.clients] for n in range(args.clients)]
    pipes, clients = [], []
    try:
        for share in shares:
            parent_end, child_end = context.Pipe()
            process = context.Process(target=client_main, daemon=True,
                                      args=(child_end, base_url, api_token, share, args.threads, args.enrollment_type,
                                            args.idle_rounds))
            process.start()
            pipes.append(parent_end)
            clients.append(process)

        def step(phase: str, *args) -> tuple[PhaseResult, float]:
            started = time.perf_counter()
            for pipe in pipes:
                pipe.send((phase, *args))
            total = PhaseResult()
            for pipe in pipes:
                answer = pipe.recv()
                if "fatal" in answer:
                    raise BenchmarkError(f"a client failed in {phase}: {answer['fatal']}")
                total.merge(PhaseResult(**answer))
            return total, time.perf_counter() - started

        def measured(phase: str) -> dict:
            reference = reference_ms()
            server_before = tree_cpu_seconds(server.pid)
            db_before = tree_cpu_seconds(postmaster) if postmaster else None
            client_before = sum(tree_cpu_seconds(p.pid) for p in clients)
            host_before = host_cpu_ticks()
            result, wall = step(phase)
            host_after = host_cpu_ticks()
            server_cpu = tree_cpu_seconds(server.pid) - server_before
            db_cpu = tree_cpu_seconds(postmaster) - db_before if postmaster else None
            client_cpu = sum(tree_cpu_seconds(p.pid) for p in clients) - client_before
            all_ticks, steal_ticks = (after - before for after, before in zip(host_after, host_before))
            summary = summarise(phase, result, wall, server_cpu, db_cpu, client_cpu, args.devices,
                                steal_ticks / all_ticks if all_ticks else None, reference)
            print(json.dumps(summary), flush=True)
            return summary

        from portal import create_app

        app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": BENCH_SECRET, "PUBLIC_URL": base_url})
        step("load_keys")
        phases = [measured("enroll")]
        inventory, _ = step("inventory")
        if inventory.errors:
            raise BenchmarkError(f"answering the enrollment inventory failed: {inventory.error_samples}")
        print(f"answered {inventory.requests} inventory commands queued at enrollment", flush=True)
        if postmaster:
            settle_database(database_url)
        step("presign")
        phases.append(measured("idle"))
        commands = queue_commands(app)
        print(f"queued {len(commands)} commands", flush=True)
        presigned, _ = step("presign_answers", commands)
        if presigned.errors:
            raise BenchmarkError(f"signing the answers failed: {presigned.error_samples}")
        if postmaster:
            settle_database(database_url)
        phases.append(measured("commands"))
        state = final_state(app)
    finally:
        for pipe in pipes:
            pipe.send(None)
        for process in clients:
            process.join(timeout=10)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

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
        "commit": commit,
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
