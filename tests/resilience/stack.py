"""The resilience tests' moving parts, started for real: a PostgreSQL cluster of their own that they
may stop and restart, gunicorn nodes behind a round-robin balancer, background workers, and
simulated iPhones that send a request again until it is answered, as phones do.

What "exactly once" is checked against: the database (a trigger of the tests' own records every
change of a command's status and result, ``command_history``), the APNs stand-in's record of the
pushes it accepted (each carries the apns-id of its outbox request), and each phone's own record of
the command UUIDs it received and the reports it got answered.
"""
from __future__ import annotations

import collections
import glob
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from benchmarks.harness import flask_cli, free_port, start_gunicorn
from mdm_core import plist
from mdm_core.simulator import SimulatedDevice
from mdm_core.simulator.__main__ import mint_profile
from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE, COMMAND_CONTENT_TYPE, SimulatorError
from tests.helpers import REPO, TEST_SECRET

TEMPLATE = "resilience_template"
ADMIN = ("admin@example.org", "correct horse battery staple")
RETRY_PAUSE = 0.2  # a phone's pause before sending again (iPhones wait longer; the test cannot)

#: Every change of a command's status or result, recorded by the database itself.
HISTORY_SQL = """
CREATE TABLE command_history (id bigserial PRIMARY KEY, command_id bigint NOT NULL, old_status text,
                              new_status text, result_written boolean NOT NULL);
CREATE FUNCTION record_command_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO command_history (command_id, old_status, new_status, result_written)
  VALUES (NEW.id, OLD.status, NEW.status, NEW.result IS DISTINCT FROM OLD.result);
  RETURN NULL;
END $$;
CREATE TRIGGER record_command_change AFTER UPDATE ON commands FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.result IS DISTINCT FROM NEW.result)
  EXECUTE FUNCTION record_command_change();
"""


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PrivateCluster:
    """A throwaway PostgreSQL cluster on a free port, run as the ``postgres`` user when we are root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="byod-resilience-pg."))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self.port = free_port()
        self._as_postgres(f"{bin_dir}/initdb -D {self.directory}/data -U postgres -A trust --no-sync")
        self.start()

    def _as_postgres(self, command: str, check: bool = True) -> int:
        argv = ["su", "postgres", "-s", "/bin/sh", "-c", command] if os.geteuid() == 0 else ["sh", "-c", command]
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if check and completed.returncode:
            raise RuntimeError(f"{command} failed: {completed.stdout[-1000:]}{completed.stderr[-1000:]}")
        return completed.returncode

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._as_postgres(f"{self.bin_dir}/pg_ctl -D {self.directory}/data -w -t 60 -l {self.directory}/log "
                          f"-o '{options}' start")

    def running(self) -> bool:
        return self._as_postgres(f"{self.bin_dir}/pg_ctl -D {self.directory}/data status", check=False) == 0

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(f"{self.bin_dir}/pg_ctl -D {self.directory}/data -w -t 60 -m {mode} stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database, **kwargs)

    def execute(self, sql: str, database: str = "postgres") -> None:
        with self.connect(database, autocommit=True) as connection:
            connection.execute(sql)


def portal_env(database_url: str, public_url: str, apns_endpoint: str, apns_ca: Path) -> dict[str, str]:
    """The environment every process of the portal gets: web nodes, workers and the CLI."""
    return {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "PUBLIC_URL": public_url,
            "APNS_ENDPOINT": apns_endpoint, "APNS_CA_BUNDLE": str(apns_ca), "LOG_FORMAT": "text",
            "RATE_LIMITS": "scep.ip=off"}  # every phone enrolls from 127.0.0.1


def prepare_template(cluster: PrivateCluster, push_files: dict[str, Path]) -> str:
    """A migrated database with the push certificate, an admin and the command history, that each test
    copies; returns the full-scope API token it holds."""
    from portal import create_app
    from portal.cli import upsert_admin
    from portal.extensions import db
    from portal.models import ApiToken
    from portal.push.certificate import import_push_certificate

    cluster.execute(f"CREATE DATABASE {TEMPLATE}")
    url = cluster.url(TEMPLATE)
    # a process of its own: Alembic's logging set-up would disable the loggers of this one
    flask_cli(portal_env(url, "http://127.0.0.1:1", "https://127.0.0.1:1", push_files["server_ca"]), "db", "upgrade")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": TEST_SECRET})
    with app.app_context():
        import_push_certificate(push_files["push_cert"].read_bytes(), push_files["push_key"].read_bytes())
        upsert_admin(*ADMIN)
        row, token = ApiToken.issue("resilience")
        db.session.add(row)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    cluster.execute(HISTORY_SQL, TEMPLATE)
    return token


class Balancer(httpx.BaseTransport):
    """The load balancer in front of the web nodes: each request goes to the next node, in turn."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self._turn = itertools.count()
        self._transport = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(port=self.ports[next(self._turn) % len(self.ports)])
        return self._transport.handle_request(request)

    def close(self) -> None:
        self._transport.close()


def process_children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (gunicorn's workers, of its master)."""
    children = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2:].split()[1]) == pid:
            children.append(int(Path(stat).parent.name))
    return children


@dataclass
class Phone:
    """A simulated iPhone over HTTP that sends a request again, with the same body, until it is
    answered: a broken connection or a 5xx (a 503 while the database is down) is retried."""

    device: SimulatedDevice
    http: httpx.Client
    received: list[str] = field(default_factory=list)  # command UUIDs, as they arrived
    answered: list[str] = field(default_factory=list)  # command UUIDs whose report got its 200
    failures: list[str] = field(default_factory=list)  # what made it send again
    pushes_seen: int = 0

    @property
    def token(self) -> str:
        return self.device.push_token.hex()

    def poll(self, deadline: float) -> None:
        """Connect as after a push: Idle, then answer each command until the server has none."""
        body, reported = plist.dumps(self.device.idle_report()), None
        while True:
            content = self._put(self.device.settings.server_url, body, COMMAND_CONTENT_TYPE, deadline)
            if reported is not None:
                self.answered.append(reported)
            if not content:
                return
            exchange, report = self.device.report_for(content)
            self.received.append(exchange.command_uuid)
            body, reported = plist.dumps(report), exchange.command_uuid

    def checkin(self, message: dict, deadline: float) -> None:
        self._put(self.device.settings.checkin_url, plist.dumps(message), CHECKIN_CONTENT_TYPE, deadline)

    def _put(self, url: str, body: bytes, content_type: str, deadline: float) -> bytes:
        while True:
            try:
                response = self.http.put(url, content=body, headers=self.device.headers(body, content_type))
            except httpx.TransportError as error:
                self.failures.append(error.__class__.__name__)
            else:
                if response.status_code == 200:
                    return response.content
                if response.status_code < 500:
                    raise SimulatorError(f"PUT {url} answered {response.status_code}: {response.text[:200]}")
                self.failures.append(str(response.status_code))
            if time.monotonic() > deadline:
                raise TimeoutError(f"PUT {url} still unanswered; failures: {self.failures[-5:]}")
            time.sleep(RETRY_PAUSE)


@dataclass
class Node:
    process: subprocess.Popen
    port: int

    def workers(self) -> list[int]:
        return process_children(self.process.pid)


class Stack:
    """One test's portal: its database (a copy of the template), web nodes, workers and phones."""

    def __init__(self, cluster: PrivateCluster, database: str, api_token: str, standin, apns_ca: Path,
                 run_dir: Path) -> None:
        self.cluster, self.database, self.api_token, self.standin = cluster, database, api_token, standin
        self.run_dir = run_dir
        self.env = portal_env(cluster.url(database), f"http://127.0.0.1:{free_port()}", standin.endpoint, apns_ca)
        self.nodes: list[Node] = []
        self.workers: list[subprocess.Popen] = []
        self.balancer = Balancer([])
        self.http = httpx.Client(transport=self.balancer, base_url=self.env["PUBLIC_URL"], timeout=30)
        self.phones: list[Phone] = []

    # -- processes ------------------------------------------------------------------------
    def start_node(self, workers: int = 2) -> Node:
        port = free_port()
        process = start_gunicorn(self.env, port, ["--config", "gunicorn.conf.py", "--workers", str(workers)],
                                 "wsgi:app", self.run_dir / f"gunicorn-{port}.log")
        node = Node(process, port)
        self.nodes.append(node)
        self.balancer.ports.append(port)
        return node

    def start_worker(self, push_lease: float = 60) -> subprocess.Popen:
        log = (self.run_dir / f"worker-{len(self.workers)}.log").open("w")
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--push-lease",
                                   str(push_lease)], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for process, stop in [*((w, signal.SIGTERM) for w in self.workers),
                              *((node.process, signal.SIGINT) for node in self.nodes)]:  # gunicorn's quick shutdown
            if process.poll() is None:
                process.send_signal(stop)
        for process in [*self.workers, *(node.process for node in self.nodes)]:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.http.close()

    def logs(self) -> str:
        return "\n".join(f"== {path.name}\n{path.read_text()[-3000:]}" for path in sorted(self.run_dir.glob("*.log")))

    # -- the API and the phones -------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self.http.request(method, f"/api/v1{path}", headers={"Authorization": f"Bearer {self.api_token}"},
                                 **kwargs)

    def enroll(self, count: int) -> list[Phone]:
        """Enroll ``count`` phones (User Enrollment) through the balancer."""
        def enroll_one(n: int) -> Phone:
            device = SimulatedDevice("user")
            profile = mint_profile(self.http, self.env["PUBLIC_URL"], self.api_token, "user",
                                   f"user{len(self.phones) + n}@example.org")
            device.install_profile(profile, self.http)
            return Phone(device, self.http)

        with ThreadPoolExecutor(4) as pool:
            phones = list(pool.map(enroll_one, range(count)))
        self.phones.extend(phones)
        return phones

    def device_ids(self) -> dict[str, int]:
        """Each enrollment's device id, by EnrollmentID."""
        with self.cluster.connect(self.database) as connection:
            return dict(connection.execute("SELECT enrollment_id, id FROM devices"))

    def queue(self, phones: list[Phone], request_type: str = "ProfileList", **keys) -> list[str]:
        """Queue a command for each phone in one API request (one transaction: their pushes are recorded
        together); returns the command UUIDs, in the phones' order."""
        ids = self.device_ids()
        response = self.api("POST", "/commands/bulk", json={
            "request_type": request_type, "device_ids": [ids[p.device.enrollment_id] for p in phones], **keys})
        assert response.status_code == 201, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == [201] * len(phones), results
        return [r["command_uuid"] for r in results]

    def open_commands(self) -> int:
        with self.cluster.connect(self.database) as connection:
            return connection.execute("SELECT count(*) FROM commands WHERE status NOT IN ('acknowledged', 'error')"
                                      ).fetchone()[0]

    def pending_pushes(self) -> int:
        with self.cluster.connect(self.database) as connection:
            return connection.execute("SELECT count(*) FROM push_outbox").fetchone()[0]

    def wake_pushed(self, deadline: float) -> int:
        """Every phone with a push it has not seen yet connects, as a woken iPhone does; returns how many."""
        woken = []
        for phone in self.phones:
            pushes = len(self.standin.pushes_for(phone.token))
            if pushes > phone.pushes_seen:
                phone.pushes_seen = pushes
                woken.append(phone)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda phone: phone.poll(deadline), woken))
        return len(woken)

    def drain(self, timeout: float = 30) -> None:
        """Wake pushed phones until no command is open and no push is pending."""
        deadline = time.monotonic() + timeout
        while self.wake_pushed(deadline) or self.open_commands() or self.pending_pushes():
            assert time.monotonic() < deadline, f"work left after {timeout} s:\n{self.logs()}"
            time.sleep(0.1)

    # -- what happened --------------------------------------------------------------------
    def assert_commands_done_once(self) -> None:
        """Every command ends finished (acknowledged, or an error the phone reported) once, its result
        written once; each phone received every one of its
        commands once and got its report answered once."""
        with self.cluster.connect(self.database) as connection:
            commands = connection.execute(
                "SELECT c.command_uuid, c.status, c.result IS NOT NULL, d.enrollment_id, "
                "       (SELECT count(*) FROM command_history h WHERE h.command_id = c.id"
                "          AND h.new_status IN ('acknowledged', 'error') AND h.old_status NOT IN ('acknowledged', 'error')), "
                "       (SELECT count(*) FROM command_history h WHERE h.command_id = c.id AND h.result_written) "
                "FROM commands c JOIN devices d ON d.id = c.device_id").fetchall()
        assert commands
        by_phone = {phone.device.enrollment_id: phone for phone in self.phones}
        for command_uuid, status, has_result, enrollment_id, finished, results in commands:
            assert (has_result, finished, results) == (True, 1, 1) and status in ("acknowledged", "error"), command_uuid
            phone = by_phone[enrollment_id]
            assert phone.received.count(command_uuid) == 1, (command_uuid, phone.received)
            assert phone.answered.count(command_uuid) == 1, (command_uuid, phone.answered)
        expected = collections.Counter(enrollment_id for *_, enrollment_id, _a, _r in commands)
        assert {p.device.enrollment_id: len(p.received) for p in self.phones} == expected, "nothing else was received"

    def pushes_by_apns_id(self) -> collections.Counter:
        return collections.Counter(push.apns_id for push in self.standin.received)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


def in_background(action) -> threading.Thread:
    """Run ``action`` in a thread; its exception, if any, is raised again by ``join_checked``."""
    def run() -> None:
        try:
            action()
        except BaseException as error:  # handed to the test's thread
            thread.error = error

    thread = threading.Thread(target=run, daemon=True)
    thread.error = None
    thread.start()
    return thread


def join_checked(thread: threading.Thread, timeout: float) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), "still running"
    if thread.error is not None:
        raise thread.error
