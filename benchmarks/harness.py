"""What the load benchmarks share: device keys, CPU accounting, the server and its database,
and load-generator processes that enroll simulated devices over real HTTP.

``mdm_throughput.py`` and ``fanout.py`` build their phases on it; see benchmarks/README.md.
"""
from __future__ import annotations

import http.client
import multiprocessing
import os
import signal
import socket
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
    # two runs may fill the cache at once (CI runs the SQLite and PostgreSQL suites side by side): each writes a
    # file of its own and links it in only if no key is there yet, so a key once cached never changes
    temporary = _key_path(index).with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(der)
    try:
        os.link(temporary, _key_path(index))
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


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


def host_cpu_ticks() -> tuple[int, int, int]:
    """(all ticks, steal ticks, idle ticks) of this machine's CPUs, from the first line of /proc/stat.

    Steal is time the hypervisor gave this VM's virtual CPUs to someone else; on a shared VM it
    is what makes the same code measure differently from one run to the next.
    """
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is in user)
    return sum(fields[:8]), fields[7], fields[3] + fields[4]


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


class CpuMeter:
    """CPU seconds of named process trees, and the host's steal share, between two readings.

    ``idle`` is the share of the host's CPU time nobody used in the last interval (None before one).
    """

    def __init__(self, roots: dict[str, list[int]]) -> None:
        self.roots = roots
        self.idle: float | None = None
        self._before: dict[str, float] = {}
        self._host: tuple[int, int, int] = (0, 0, 0)

    def _read(self) -> dict[str, float]:
        return {name: sum(tree_cpu_seconds(pid) for pid in pids) for name, pids in self.roots.items()}

    def start(self) -> None:
        self._before = self._read()
        self._host = host_cpu_ticks()

    def stop(self) -> tuple[dict[str, float], float | None]:
        """CPU seconds per name since :meth:`start`, and the host's steal share (None if no ticks)."""
        host_after = host_cpu_ticks()
        after = self._read()
        all_ticks, steal_ticks, idle_ticks = (a - b for a, b in zip(host_after, self._host))
        self.idle = idle_ticks / all_ticks if all_ticks else None
        return ({name: after[name] - self._before[name] for name in after},
                steal_ticks / all_ticks if all_ticks else None)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


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


class EnrollingClient:
    """One load-generator process: its devices, enrolled over real HTTP, and a thread pool.

    Subclasses add their phases as ``phase_<name>`` methods; the parent runs them by name.
    """

    def __init__(self, base_url: str, api_token: str, indices: list[int], threads: int, enrollment_type: str):
        import httpx

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

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def _put(self, connection: http.client.HTTPConnection, device, body: bytes,
             headers: dict[str, str], result: PhaseResult, url: str | None = None) -> bytes | None:
        """PUT a signed body to ``url`` (default: the device's command URL); the answer, None on an error
        (counted in ``result``)."""
        path = urlsplit(url or device.settings.server_url).path
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


def serve_phases(connection, client: EnrollingClient) -> None:
    """The loop of a load-generator process: run the phases the parent sends, one by one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    while True:
        message = connection.recv()
        if message is None:
            return
        try:
            connection.send(asdict(client.run(*message)))
        except Exception as exc:  # report it to the parent rather than hang it
            connection.send({"fatal": f"{exc.__class__.__name__}: {exc}"})


class ClientPool:
    """Load-generator processes (spawned), each running ``target(pipe, *args, its share)``.

    ``target`` builds the process's client and calls :func:`serve_phases`; devices are dealt
    round-robin, so process ``n`` of ``k`` drives devices n, n+k, n+2k...
    """

    def __init__(self, target, args: tuple, devices: int, processes: int, result_type: type = PhaseResult) -> None:
        self.result_type = result_type
        context = multiprocessing.get_context("spawn")
        self.pipes, self.processes = [], []
        for n in range(processes):
            parent_end, child_end = context.Pipe()
            share = list(range(devices))[n::processes]
            process = context.Process(target=target, daemon=True, args=(child_end, *args, share))
            process.start()
            self.pipes.append(parent_end)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def send(self, phase: str, *args) -> None:
        for pipe in self.pipes:
            pipe.send((phase, *args))

    def collect(self, phase: str):
        total = self.result_type()
        for pipe in self.pipes:
            answer = pipe.recv()
            if "fatal" in answer:
                raise BenchmarkError(f"a client failed in {phase}: {answer['fatal']}")
            total.merge(self.result_type(**answer))
        return total

    def step(self, phase: str, *args):
        """Run ``phase`` in every process; returns the merged result and the wall time."""
        started = time.perf_counter()
        self.send(phase, *args)
        total = self.collect(phase)
        return total, time.perf_counter() - started

    def __enter__(self) -> "ClientPool":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():  # still in a phase the run gave up on
                process.terminate()


# Server, database and the run ----------------------------------------------------------------

def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def commit() -> str:
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


def server_env(database_url: str, base_url: str, **extra: str) -> dict[str, str]:
    """The portal's environment for a run: this process's, a fresh database and the benchmark's settings."""
    # every simulated device enrolls from 127.0.0.1: the per-address SCEP limit would stop all but the first few
    return {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": BENCH_SECRET, "PUBLIC_URL": base_url,
            "LOG_FORMAT": "text", "RATE_LIMITS": "scep.ip=off", **extra}


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


def publish(report: dict, json_path: Path | None, text: str) -> None:
    """Keep the report in the run's folder (and at ``--json``), and print its Markdown."""
    import json

    Path(report["run_dir"], "report.json").write_text(json.dumps(report, indent=2))
    if json_path:
        json_path.write_text(json.dumps(report, indent=2))
    print()
    print(text)


def report_main(argv: list[str], parse_args, run, markdown) -> int:
    """A one-phase benchmark's command line: run, keep and print the report (``publish``); exit
    status 1 when the goal was not met."""
    args = parse_args(argv)
    report = run(args, argv)
    publish(report, args.json, markdown(report))
    return 0 if report["phase"]["goal_met"] else 1


def stop(process: subprocess.Popen) -> None:
    """SIGTERM a server process and wait for it (gunicorn and the workers stop gracefully on it)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


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


def in_process_app(database_url: str | None, prefix: str):
    """For the in-process benchmarks: a fresh scratch database (``prepare_database``), migrated, and the app on it;
    returns the app and the PostgreSQL postmaster pid (None on SQLite)."""
    import tempfile

    from flask_migrate import upgrade

    from portal import create_app

    run_dir = Path(tempfile.mkdtemp(prefix=prefix))
    url, postmaster = prepare_database(database_url, run_dir)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": BENCH_SECRET, "PUBLIC_URL": "http://127.0.0.1:1"})
    app.instance_path = str(run_dir)
    with app.app_context():
        upgrade()
    return app, postmaster
