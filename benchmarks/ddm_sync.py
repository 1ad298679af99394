"""DDM sync: server CPU per DDM request, and the time from one edit to every device reporting it active.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.ddm_sync --devices 10000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mdm_bench  # emptied first!

Set-up (not measured), as in ``fanout.py``: the APNs stand-in, gunicorn and ``flask worker``; a
declaration set through the API (a user-identity asset and a mail account that uses it, scoped to
every user-enrolled device); N simulated user-enrolled iPhones enroll over HTTP and answer the
commands queued at enrollment (inventory, and the ``DeclarativeManagement`` command that turns DDM
on), without synchronising yet.

Measured, one phase per request kind so that each has its own CPU figure (server = gunicorn
master and workers; with PostgreSQL the cluster's CPU is reported apart): every device sends

- ``idle``: one ``Idle`` to the command URL with an empty queue (the reference: an idle MDM connect);
- ``tokens``, ``declaration-items``: one ``DeclarativeManagement`` check-in each;
- ``declaration``: one check-in per declaration in its manifest (``declaration/<kind>/<identifier>``);
- ``status``: its first, full status report.

Every step is measured as ``idle`` is, so that the server's CPU per request is not inflated by the load
generator's on the same cores: before the clock starts, the simulator builds each device's requests of the
step (the declarations it would fetch from the manifest the previous step got; the report it would send
after applying them) and each is signed; on the clock, each device sends its bodies over one
``http.client`` connection and the answers are kept (a non-200 answer is an error); after the clock
stops, the simulator reads the answers with every check it makes live, and what fails there is the step's
error too. The device ends each step exactly as a live synchronisation leaves it. ``p50 ms`` is one
request's round trip.

Then ``edit``: one ``PUT`` of the mail account's payload through the API. The server queues a
``DeclarativeManagement`` command for every device in scope and pushes it; each device wakes on its
push (the stand-in's log), connects, acknowledges, fetches tokens, manifest and the one changed
declaration, and reports status, all live (signing and reading on the clock: this phase is timed end to
end). Reported: seconds from the API call until the last device's report showing the new
``ServerToken`` active was accepted, and the server CPU of the whole phase (web and worker) per device.
Goal: every DDM request at most the server CPU of an idle connect.

Last, ``--rounds`` paired rounds of ``idle`` and ``status again`` (a full report again, the server's stored
declaration statuses deleted off the clock first, so that it writes what a first report writes), in the
order idle-status, status-idle, idle-status...: phases measured minutes apart ran on a host up to 1.8x
faster or slower (the ``reference ms`` column), while a pair runs seconds apart and the alternation cancels
a steady drift. Reported: each round's two figures and ratio, and the median ratio.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from benchmarks.fanout import (FanoutClient, FanoutResult, fleet_arguments, per_interval, portal_app, pushes_logged,
                               run_setup, start_portal, start_stack, start_worker, wait_for_empty_outbox,
                               worker_rss_mb)
from benchmarks.harness import (BenchmarkError, ClientPool, CpuMeter, PhaseResult, percentile, publish, reference_ms,
                                serve_phases, settle_database, stop)

STEPS = ("idle", "tokens", "declaration-items", "declaration", "status")
EDITED = "bench-mail"
IDENTITY = "bench-identity"
DECLARATIONS = [
    {"identifier": IDENTITY, "type": "com.apple.asset.useridentity",
     "payload": {"FullName": "Benchmark User", "EmailAddress": "bench@example.com"}},
    {"identifier": EDITED, "type": "com.apple.configuration.account.mail",
     "payload": {"VisibleName": "Work mail", "UserIdentityAssetReference": IDENTITY,
                 "IncomingServer": {"ServerType": "IMAP", "HostName": "imap.example.com",
                                    "AuthenticationMethod": "Password"},
                 "OutgoingServer": {"HostName": "smtp.example.com", "AuthenticationMethod": "Password"}}},
]


@dataclass
class SyncResult(FanoutResult):
    """A client's share of a phase; ``by_endpoint`` counts the DDM requests of each kind."""

    by_endpoint: dict[str, int] = field(default_factory=dict)

    def merge(self, other: PhaseResult) -> None:
        super().merge(other)
        for name, count in getattr(other, "by_endpoint", {}).items():
            self.by_endpoint[name] = self.by_endpoint.get(name, 0) + count


@dataclass
class Exchange:
    """One device's requests of a step, signed off the clock; the answers the measured step kept; and how
    the device reads them (off the clock, as a live run reads each answer)."""

    url: str
    requests: list[tuple[bytes, dict[str, str]]]
    read: Callable[[list[bytes]], object]
    answers: list[bytes] = field(default_factory=list)


class SyncClient(FanoutClient):
    """A load-generator process whose devices run the DDM exchange one step at a time, then on push.

    Each step is three phases: ``prepare`` signs every request the device will send (what the simulator's
    ``fetch_*`` and ``report`` would send), ``step`` (the measured one) sends them as ``idle`` does, one
    connection per device, and ``read`` feeds the answers to the simulator, which checks them as it does live.
    """

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.manifests: dict[int, dict] = {}
        self.exchanges: dict[int, Exchange] = {}
        self.tokens_before: dict[int, str | None] = {}
        self._lock = threading.Lock()

    def phase_commands(self) -> PhaseResult:
        """Answer the commands queued at enrollment without synchronising (set-up)."""
        return self._each_device(self._answer_commands)

    def phase_prepare(self, step: str) -> PhaseResult:
        """Sign each device's requests of ``step`` (not measured)."""
        prepare = getattr(self, f"_prepare_{step.replace('-', '_')}")

        def action(index: int, device, result: PhaseResult) -> None:
            self.exchanges[index] = prepare(index, device)

        self.exchanges = {}
        return self._each_device(action)

    def phase_step(self, step: str) -> PhaseResult:
        """The measured step: each device's prepared requests, on one connection; the answers are kept."""
        return self._each_device(self._send_prepared)

    def phase_read(self, step: str) -> PhaseResult:
        """Read the kept answers into each device (not measured); what fails here is the step's error."""
        def action(index: int, device, result: PhaseResult) -> None:
            exchange = self.exchanges.pop(index, None)
            if exchange is not None and len(exchange.answers) == len(exchange.requests):  # else counted already
                exchange.read(exchange.answers)

        return self._each_device(action)

    def _each_device(self, action) -> PhaseResult:
        """``action(index, device, result)`` for each device on the pool; what it raises is the device's error."""
        def run(index: int) -> PhaseResult:
            result = PhaseResult()
            device = self.devices.get(index)
            if device is None:
                result.add_error(f"device {index}: not enrolled")
                return result
            try:
                action(index, device, result)
            except Exception as exc:  # counted and sampled: one device must not stop the run
                result.add_error(f"device {index}: {exc}")
            return result

        return self._each(run)

    def _answer_commands(self, index: int, device, result: PhaseResult) -> None:
        from mdm_core import plist
        from mdm_core.simulator.device import COMMAND_CONTENT_TYPE

        connection = self._connection()
        try:
            body, headers = self.idle[index]
            while content := self._put(connection, device, body, headers, result):
                _exchange, report = device.report_for(content)
                body = plist.dumps(report)
                headers = device.headers(body, COMMAND_CONTENT_TYPE)
        finally:
            connection.close()
        if not device.ddm.sync_pending:
            raise RuntimeError("no DeclarativeManagement command came with the enrollment")

    def _send_prepared(self, index: int, device, result: PhaseResult) -> None:
        exchange = self.exchanges.get(index)
        if exchange is None:  # its preparation failed: counted
            return
        connection = self._connection()
        try:
            for body, headers in exchange.requests:
                content = self._put(connection, device, body, headers, result, exchange.url)
                if content is None:  # counted
                    return
                exchange.answers.append(content)
        finally:
            connection.close()

    def _signed(self, device, endpoints: list[str], read: Callable[[list[bytes]], object],
                data: bytes | None = None) -> Exchange:
        """The DDM check-ins to ``endpoints``, built by the simulator and signed now."""
        from mdm_core import plist
        from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE

        requests = []
        for endpoint in endpoints:
            body = plist.dumps(device.ddm.message(device, endpoint, data))
            requests.append((body, device.headers(body, CHECKIN_CONTENT_TYPE)))
        return Exchange(device.settings.checkin_url, requests, read)

    def _prepare_idle(self, index: int, device) -> Exchange:
        def read(answers: list[bytes]) -> None:
            if answers[0]:
                raise RuntimeError("the queue was not empty")

        return Exchange(device.settings.server_url, [self.idle[index]], read)

    def _prepare_tokens(self, index: int, device) -> Exchange:
        return self._signed(device, ["tokens"], lambda answers: device.ddm.read_tokens(answers[0]))

    def _prepare_declaration_items(self, index: int, device) -> Exchange:
        def read(answers: list[bytes]) -> None:
            self.manifests[index] = device.ddm.read_manifest(answers[0])

        return self._signed(device, ["declaration-items"], read)

    def _prepare_declaration(self, index: int, device) -> Exchange:
        """What the simulator fetches of the manifest: at first sync, every declaration."""
        ddm, manifest = device.ddm, self.manifests.pop(index)
        wanted = ddm.changed(manifest)

        def read(answers: list[bytes]) -> None:
            for (kind, identifier), content in zip(wanted, answers):
                ddm.hold(device, self.http, ddm.read_declaration(kind, identifier, content))
            ddm.adopt(manifest)

        return self._signed(device, [f"declaration/{kind}/{identifier}" for kind, identifier in wanted], read)

    def _prepare_status(self, index: int, device) -> Exchange:
        """The first status report: the held declarations applied, everything reported."""
        ddm = device.ddm
        ddm.sync_pending = False
        ddm.apply(device)
        status = ddm.status_document(device)
        if status is None:
            raise RuntimeError("the device has no status to report")

        def read(answers: list[bytes]) -> None:
            ddm.reported_now(status)
            state = ddm.state_of(EDITED)
            if not (state and state["active"]):
                raise RuntimeError(f"{EDITED} is not active on the device: {state}")
            self.tokens_before[index] = state["server-token"]

        return self._signed(device, ["status"], read, status.body)

    def _prepare_status_again(self, index: int, device) -> Exchange:
        """A full status report again (see the module's paired rounds)."""
        status = device.ddm.status_document(device, full=True)
        return self._signed(device, ["status"], lambda answers: device.ddm.reported_now(status), status.body)

    def phase_fanout(self, *args) -> SyncResult:
        """``FanoutClient``'s wait for pushes, with the DDM requests counted by kind."""
        self.edit_counts: Counter[str] = Counter()
        result = SyncResult(**asdict(super().phase_fanout(*args)))
        result.by_endpoint = dict(self.edit_counts)
        return result

    def _wake(self, index: int, pushed_at: float, request_type: str, busy: threading.Lock,
              served: set[int]) -> SyncResult:
        """What a phone does on a push: connect, acknowledge the command, synchronise, report."""
        result = SyncResult()
        device = self.devices[index]
        with busy:
            before = dict(device.ddm.requests)
            try:
                result.requests += len(device.poll(self.http)) + 1
            except Exception as exc:  # counted and sampled
                result.add_error(f"device {index}: {exc}")
                return result
            _count(result, before, device.ddm.requests)
            with self._lock:
                self.edit_counts.update(result.by_endpoint)
            state = device.ddm.state_of(EDITED)
            if state and state["active"] and state["server-token"] != self.tokens_before.get(index):
                now = time.time()
                result.acknowledged += 1
                result.ack_at.append(now)
                result.ack_latencies_ms.append((now - pushed_at) * 1000)
                served.add(index)
        return result


def _count(result: SyncResult, before: dict[str, int], after) -> None:
    for name, count in after.items():
        if count > before.get(name, 0):
            result.by_endpoint[name] = result.by_endpoint.get(name, 0) + count - before.get(name, 0)
            result.requests += count - before.get(name, 0)


def client_main(connection, base_url: str, api_token: str, threads: int, indices: list[int]) -> None:
    """Entry point of a load-generator process."""
    serve_phases(connection, SyncClient(base_url, api_token, indices, threads, "user"))


# The portal's API ------------------------------------------------------------------------------

def _api(http, api_token: str, method: str, path: str, expected: int, **kwargs) -> dict:
    response = http.request(method, path, headers={"Authorization": f"Bearer {api_token}"}, **kwargs)
    if response.status_code != expected:
        raise BenchmarkError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
    return response.json() if response.content else {}


def create_declarations(http, api_token: str) -> dict[str, int]:
    """The declaration set, scoped to every user-enrolled device; returns the ids by identifier."""
    ids = {}
    for declaration in DECLARATIONS:
        created = _api(http, api_token, "POST", "/api/v1/declarations", 201, json=declaration)
        ids[declaration["identifier"]] = created["id"]
        _api(http, api_token, "PUT", f"/api/v1/declarations/{created['id']}/scope", 200,
             json={"all_user_enrolled": True})
    return ids


def edit_declaration(http, api_token: str, declaration_id: int) -> dict:
    payload = {**DECLARATIONS[1]["payload"], "VisibleName": f"Work mail {time.time():.0f}"}
    edited = _api(http, api_token, "PUT", f"/api/v1/declarations/{declaration_id}", 200, json={"payload": payload})
    if not edited.get("changed"):
        raise BenchmarkError(f"the edit changed nothing: {edited}")
    return edited


# The run ---------------------------------------------------------------------------------------

def forget_statuses(app, device_id: int | None = None) -> None:
    """Delete the stored declaration statuses (every device's, or one's) off the clock, so that the next report
    writes as a first one."""
    from sqlalchemy import delete

    from portal.extensions import db
    from portal.models import DeclarationStatus

    statement = delete(DeclarationStatus)
    if device_id is not None:
        statement = statement.where(DeclarationStatus.device_id == device_id)
    with app.app_context():
        db.session.execute(statement)
        db.session.commit()
        db.session.remove()


def measure(clients: ClientPool, meter: CpuMeter, step: str) -> tuple[SyncResult, float, dict[str, float],
                                                                     float | None, float]:
    """Prepare ``step`` (not measured), run it on the meter, read its answers (not measured): its result, wall
    time, CPU by process tree, host steal and the reference taken before it."""
    prepared, _wall = clients.step("prepare", step)
    reference = reference_ms()
    meter.start()
    result, wall = clients.step("step", step)
    cpu, steal = meter.stop()
    for unmeasured in (prepared, clients.step("read", step)[0]):  # their errors are the step's
        result.merge(unmeasured)
    if result.errors:
        raise BenchmarkError(f"step {step} failed: {result.error_samples}")
    return result, wall, cpu, steal, reference


def paired_rounds(clients: ClientPool, meter: CpuMeter, app, rounds: int) -> dict:
    """``rounds`` pairs of ``idle`` and ``status again``, alternating which goes first (see the module)."""
    pairs = []
    for number in range(rounds):
        figures = {}
        for step in ("idle", "status-again") if number % 2 == 0 else ("status-again", "idle"):
            if step == "status-again":
                forget_statuses(app)
            figures[step] = step_figures(step, *measure(clients, meter, step))
        ratio = figures["status-again"]["server_cpu_ms_per_request"] / figures["idle"]["server_cpu_ms_per_request"]
        pairs.append({**figures, "ratio": round(ratio, 3)})
        print(json.dumps(pairs[-1]), flush=True)
    return {"rounds": pairs, "median_ratio": round(statistics.median(pair["ratio"] for pair in pairs), 3)}


def step_figures(step: str, result: SyncResult, wall: float, cpu: dict[str, float], steal: float | None,
                 reference: float) -> dict:
    requests = max(result.requests, 1)
    return {"step": step, "requests": result.requests, "errors": result.errors, "wall_s": round(wall, 1),
            "server_cpu_ms_per_request": round(cpu["web"] * 1000 / requests, 3),
            "db_cpu_ms_per_request": round(cpu["db"] * 1000 / requests, 3) if "db" in cpu else None,
            "client_cpu_ms_per_request": round(cpu["clients"] * 1000 / requests, 3),
            "request_ms_p50": round(percentile(result.latencies_ms, 0.5), 1),
            "host_steal_percent": None if steal is None else round(steal * 100, 1), "reference_ms": reference,
            "error_samples": result.error_samples}


def edit_figures(result: SyncResult, devices: int, started: float, api_seconds: float, pushes, cpu: dict[str, float],
                 steal: float | None, reference: float) -> dict:
    sent, accepted = pushes
    last = round(max(result.ack_at) - started, 2) if result.ack_at else None
    server = cpu["web"] + cpu["push_worker"]
    return {"devices": devices, "served": result.served, "errors": result.errors + (sent - len(accepted)),
            "seconds_to_last_report": last, "api_call_s": round(api_seconds, 2),
            "pushes_sent": sent, "pushes_accepted": len(accepted),
            "per_10_s": {"pushes": per_interval(accepted, started), "reports": per_interval(result.ack_at, started)},
            "device_requests": result.requests, "by_endpoint": result.by_endpoint,
            "push_to_report_ms": {name: round(percentile(result.ack_latencies_ms, q), 1)
                                  for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))},
            "cpu_s": {name: round(seconds, 2) for name, seconds in cpu.items()},
            "server_cpu_ms_per_device": round(server * 1000 / max(devices, 1), 2),
            "web_cpu_ms_per_request": round(cpu["web"] * 1000 / max(result.requests, 1), 3),
            "host_steal_percent": None if steal is None else round(steal * 100, 1), "reference_ms": reference,
            "error_samples": result.error_samples}


def markdown(report: dict) -> str:
    idle = report["steps"]["idle"]["server_cpu_ms_per_request"]
    edit = report["edit"]
    lines = [
        f"### {report['database']}, N={report['devices']} ({report['date']})", "",
        f"`{report['command']}`", "",
        f"gunicorn `{report['gunicorn']}`; {report['clients']} client processes x {report['threads']} threads; "
        f"load before: {report['load_before']}; commit {report['commit']}; web worker RSS "
        f"{report['web_worker_rss_mb']} MB", "",
        "| request | requests | errors | server CPU ms/request | vs idle connect | DB CPU ms/request "
        "| client CPU ms/request | p50 ms | steal % | reference ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for step, figures in report["steps"].items():
        ratio = figures["server_cpu_ms_per_request"] / idle if idle else float("nan")
        db = "-" if figures["db_cpu_ms_per_request"] is None else figures["db_cpu_ms_per_request"]
        lines.append(f"| {step} | {figures['requests']} | {figures['errors']} | {figures['server_cpu_ms_per_request']} "
                     f"| {ratio:.2f} | {db} | {figures['client_cpu_ms_per_request']} | {figures['request_ms_p50']} "
                     f"| {figures['host_steal_percent']} | {figures['reference_ms']} |")
    latency = edit["push_to_report_ms"]
    lines += [
        "", f"Goal (each DDM request at most an idle connect's server CPU): "
        f"{'met' if report['goal_met'] else 'NOT met'}.", "",
        "| after one edit: to last report s | served | errors | API call s | pushes sent / accepted "
        "| push-to-report p50 / p90 / p99 ms | device requests (by kind) | server CPU s (ms/device) | DB CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {edit['seconds_to_last_report']} | {edit['served']}/{edit['devices']} | {edit['errors']} "
        f"| {edit['api_call_s']} | {edit['pushes_sent']} / {edit['pushes_accepted']} "
        f"| {latency['p50']} / {latency['p90']} / {latency['p99']} | {edit['device_requests']} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(edit['by_endpoint'].items()))}) "
        f"| {round(edit['cpu_s']['web'] + edit['cpu_s']['push_worker'], 2)} ({edit['server_cpu_ms_per_device']}) "
        f"| {edit['cpu_s'].get('db', '-')} |",
        "", f"Per 10 s from the API call: pushes accepted {edit['per_10_s']['pushes']}, "
        f"reports {edit['per_10_s']['reports']}",
        "", f"Paired rounds (idle and a full status report again, seconds apart): median status/idle "
        f"{report['paired']['median_ratio']:.2f}", "",
        "| round | idle ms/request | status again ms/request | status/idle | reference ms (idle, status) |",
        "|---|---|---|---|---|",
    ]
    for number, pair in enumerate(report["paired"]["rounds"], 1):
        idle_figures, status_figures = pair["idle"], pair["status-again"]
        lines.append(f"| {number} | {idle_figures['server_cpu_ms_per_request']} "
                     f"| {status_figures['server_cpu_ms_per_request']} | {pair['ratio']:.2f} "
                     f"| {idle_figures['reference_ms']}, {status_figures['reference_ms']} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ddm_sync", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="paired rounds of idle and a full status report at the end (default 3)")
    args = fleet_arguments(parser, timeout=900, push_workers=False,
                           waits_for="their push after the edit").parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """Set up, run the measured phases, tear down; returns the report."""
    import httpx

    stack = start_stack(args, "ddm_sync")
    database_url, postmaster, push_log, standin = stack.database_url, stack.postmaster, stack.push_log, stack.standin
    servers = [standin]
    report = {**stack.report, "command": "python -m benchmarks.ddm_sync " + " ".join(shlex.quote(a) for a in argv)}
    try:
        api_token, server = start_portal(stack, args)
        servers.append(server)
        worker = start_worker(stack.env, stack.run_dir / "worker.log")
        servers.append(worker)
        app = portal_app(stack)
        with httpx.Client(base_url=stack.base_url, timeout=900) as http, \
                ClientPool(client_main, (stack.base_url, api_token, args.threads), args.devices, args.clients,
                           SyncResult) as clients:
            ids = create_declarations(http, api_token)
            roots = {"web": [server.pid], "push_worker": [worker.pid], "standin": [standin.pid],
                     "clients": clients.pids}
            meter = CpuMeter({**roots, "db": [postmaster]} if postmaster else roots)
            report["setup"] = run_setup(clients, meter, ("enroll", "presign", "commands"), args.devices)
            wait_for_empty_outbox(app, timeout=120)
            if postmaster:
                settle_database(database_url)
            report["steps"] = {}
            for step in STEPS:
                report["steps"][step] = step_figures(step, *measure(clients, meter, step))
                print(json.dumps(report["steps"][step]), flush=True)
            if postmaster:
                settle_database(database_url)
            reference = reference_ms()
            offset = push_log.stat().st_size
            meter.start()
            clients.send("fanout", str(push_log), offset, "DeclarativeManagement", args.timeout)
            started = time.time()
            edit_declaration(http, api_token, ids[EDITED])
            api_seconds = time.time() - started
            result = clients.collect("fanout")
            cpu, steal = meter.stop()
            report["web_worker_rss_mb"] = worker_rss_mb(server.pid)
            report["edit"] = edit_figures(result, args.devices, started, api_seconds, pushes_logged(push_log, offset),
                                          cpu, steal, reference)
            print(json.dumps(report["edit"]), flush=True)
            wait_for_empty_outbox(app, timeout=120)
            if postmaster:
                settle_database(database_url)
            report["paired"] = paired_rounds(clients, meter, app, args.rounds)
        idle = report["steps"]["idle"]["server_cpu_ms_per_request"]
        report["goal_met"] = (report["edit"]["served"] == args.devices and report["edit"]["errors"] == 0
                              and all(f["server_cpu_ms_per_request"] <= idle for s, f in report["steps"].items()
                                      if s != "idle") and report["paired"]["median_ratio"] <= 1)
    finally:
        for process in reversed(servers):
            stop(process)
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    report = run(args, argv)
    publish(report, args.json, markdown(report))
    return 0 if report["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
