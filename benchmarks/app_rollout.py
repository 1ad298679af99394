"""App rollout: one App Store app to every user-enrolled device, licensed through the Apps and Books
stand-in, timed until every device reports the app managed.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.app_rollout --devices 10000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mdm_bench  # emptied first!

Set-up (not measured): the APNs stand-in and the Apps and Books stand-in (``mdm_core.vpp.standin``:
HTTPS, Apple's v2 paths, events that complete after ``--vpp-delay`` seconds, ``--licenses``
licenses of one app) each run in their own process; gunicorn serves the portal and ``flask worker``
runs every background job (push delivery, the Apps and Books sync, app delivery), as in
production. N simulated phones enroll with User Enrollment, each for its own Managed Apple ID,
answer the inventory round and sign their ``Idle`` report once.

The measured phase starts with three API calls, as an admin's automation would make them:
``POST /api/v1/vpp/token`` (the location's content token), ``POST /api/v1/apps`` (the app, by adam
ID) and ``PUT /api/v1/apps/<id>/scope`` (every user-enrolled device). From then on the server does
the rest on its own: it registers each user with the service and associates a license per user
(batched as the service config's limits allow), queues ``InstallApplication`` and pushes. A phone
wakes on each push the APNs stand-in logs for it, answers every queued command (an App Store
install asks the stand-in whether its user holds a license, as a phone asks the App Store) and
goes through Prompting, Installing, Managed. Reported: the time from the first API call until the
last device reported the app ``Managed`` in a ``ManagedApplicationList`` answer, the calls to the
Apps and Books API by path, the app's status counts from ``GET /api/v1/apps/<id>/status``, and the
CPU of the web server and the worker (per device), PostgreSQL, both stand-ins and the load
generator, with host steal and the reference workload as in ``mdm_throughput``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import ssl
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.fanout import (FanoutClient, FanoutResult, cpu_figures, fleet_arguments, per_interval, portal_app,
                               run_setup, setup_markdown, start_portal, start_stack, start_worker,
                               wait_for_empty_outbox, worker_rss_mb)
from benchmarks.harness import (REPO, BenchmarkError, ClientPool, CpuMeter, PhaseResult, percentile, reference_ms,
                                report_main, serve_phases, settle_database, stop)

ADAM_ID = "361309726"
GOAL_SECONDS = 300
SERVER = ("web", "worker")  # the meter's roots that are the portal's server CPU


class RolloutClient(FanoutClient):
    """Load-generator process: the fan-out's phones, woken by pushes, now installing an app.

    The fan-out's bookkeeping is reused with one meaning changed: an "acknowledgement" is the
    first ``ManagedApplicationList`` answer of a device that shows the app ``Managed``, and a
    device is served once it did and its queue is empty.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.managed: set[int] = set()  # devices that reported the app managed, across pushes

    def phase_licensing(self, standin_root: str, ca_bundle: str) -> PhaseResult:
        """Let every phone ask the Apps and Books stand-in whether its user holds a license."""
        from mdm_core.vpp.standin import remote_license_check

        check = remote_license_check(standin_root, ca_bundle)
        for device in self.devices.values():
            device.license_check = check
        return PhaseResult()

    def _reached(self, index: int, exchange, report: dict, bundle_id: str) -> bool:
        """The first answer the server took in which the phone lists the app ``Managed``."""
        listed = report.get("ManagedApplicationList") if exchange.status == "Acknowledged" else None
        if index in self.managed or not isinstance(listed, dict) or \
                listed.get(bundle_id, {}).get("Status") != "Managed":
            return False
        self.managed.add(index)
        return True


def client_main(connection, base_url: str, api_token: str, threads: int, indices: list[int]) -> None:
    """Entry point of a load-generator process."""
    serve_phases(connection, RolloutClient(base_url, api_token, indices, threads, "user"))


# The run -------------------------------------------------------------------------------------

def start_vpp_standin(directory: Path, licenses: int, delay: float, log_path: Path) -> tuple[subprocess.Popen, str]:
    """The Apps and Books stand-in in its own process (its CPU is Apple's, not ours); returns it and its base URL."""
    command = [sys.executable, "-m", "mdm_core.vpp.standin", "--demo", str(directory), "--port", "0",
               "--asset", f"{ADAM_ID}:{licenses}", "--delay", str(delay), "--quiet"]
    standin = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=log_path.open("w"), text=True)
    for line in standin.stdout:
        if line.startswith("Apps and Books stand-in listening on"):
            return standin, line.split()[-1]
    standin.wait(timeout=10)
    raise BenchmarkError(f"the Apps and Books stand-in exited with {standin.returncode}; see {log_path}")


def api(http, method: str, path: str, api_token: str, expected: int, **kwargs) -> dict:
    response = http.request(method, path, headers={"Authorization": f"Bearer {api_token}"}, **kwargs)
    if response.status_code != expected:
        raise BenchmarkError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
    return response.json()


def status_counts(http, api_token: str, app_id: int) -> dict[str, int]:
    return api(http, "GET", f"/api/v1/apps/{app_id}/status", api_token, 200)["counts"]


def standin_calls(standin_root: str, ca_bundle: str) -> dict[str, int]:
    import httpx

    with httpx.Client(verify=ssl.create_default_context(cafile=ca_bundle), timeout=30) as http:
        return http.get(standin_root + "/standin/stats").raise_for_status().json()["calls"]


def summarise(result: FanoutResult, devices: int, started: float, api_seconds: float, calls: dict[str, int],
              counts: dict[str, int], cpu: dict[str, float], steal: float | None, idle: float | None,
              reference: float) -> dict:
    last = round(max(result.ack_at) - started, 2) if result.ack_at else None
    errors = result.errors
    return {
        "phase": "rollout",
        "devices": devices,
        "managed_reported": len(result.ack_at),
        "served": result.served,
        "errors": errors,
        "seconds_to_all_managed": last if len(result.ack_at) == devices else None,
        "seconds_to_last_managed": last,
        "first_managed_s": round(min(result.ack_at) - started, 2) if result.ack_at else None,
        "goal_met": errors == 0 and len(result.ack_at) == devices and last is not None and last <= GOAL_SECONDS,
        "api_calls_s": round(api_seconds, 2),
        "vpp_calls": dict(sorted(calls.items())),
        "vpp_calls_total": sum(calls.values()),
        "status_counts": counts,
        "per_10_s_managed": per_interval(result.ack_at, started),
        "pushes_received_by_devices": result.pushes,
        "device_requests": result.requests,
        "push_to_managed_ms": {name: round(percentile(result.ack_latencies_ms, q), 1)
                               for name, q in (("p50", 0.50), ("p90", 0.90), ("max", 1.0))},
        "request_ms": {"p50": round(percentile(result.latencies_ms, 0.50), 1),
                       "p99": round(percentile(result.latencies_ms, 0.99), 1)},
        **cpu_figures(cpu, devices, steal, idle, SERVER),
        "reference_ms": reference,
        "error_samples": result.error_samples,
    }


def markdown(report: dict) -> str:
    phase = report["phase"]
    cpu = phase["cpu_s"]
    db = "-" if phase["db_cpu_ms_per_device"] is None else f"{cpu['db']} s ({phase['db_cpu_ms_per_device']} ms)"
    calls = ", ".join(f"{path} {count}" for path, count in phase["vpp_calls"].items())
    return "\n".join([
        f"### {report['database']}, N={report['devices']} ({report['date']})",
        "",
        f"`{report['command']}`",
        "",
        f"gunicorn `{report['gunicorn']}`; 1 worker; {report['clients']} client processes x {report['threads']} "
        f"threads; {report['licenses']} licenses; events complete after {report['vpp_delay']} s; load before: "
        f"{report['load_before']}; commit {report['commit']}",
        "",
        "| to last managed s | managed | errors | API calls s | Apps and Books calls | status counts "
        "| device requests | server CPU s (ms/device) | DB CPU s (ms/device) | stand-ins / client CPU s "
        "| host idle / steal % | reference ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {phase['seconds_to_last_managed']} | {phase['managed_reported']}/{phase['devices']} | {phase['errors']} | "
        f"{phase['api_calls_s']} | {phase['vpp_calls_total']} | {phase['status_counts']} | "
        f"{phase['device_requests']} | {round(cpu['web'] + cpu['worker'], 2)} ({phase['server_cpu_ms_per_device']}; "
        f"web {cpu['web']}, worker {cpu['worker']}) | {db} | {cpu['vpp_standin']} + {cpu['apns_standin']} / "
        f"{cpu['clients']} | {phase['host_idle_percent']} / {phase['host_steal_percent']} | "
        f"{phase['reference_ms']} |",
        "",
        f"Apps and Books calls by path: {calls}",
        "",
        f"Goal (0 errors, every device managed within {GOAL_SECONDS} s): "
        f"{'met' if phase['goal_met'] else 'NOT met'}. Managed per 10 s: {phase['per_10_s_managed']}",
        "",
        *setup_markdown(report["setup"], "set-up (not the rollout)"),
    ])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.app_rollout", description=__doc__.split("\n")[0])
    parser.add_argument("--licenses", type=int, help="licenses of the app (default: one per device)")
    parser.add_argument("--vpp-delay", type=float, default=1.0,
                        help="seconds until an Apps and Books event completes (default 1)")
    args = fleet_arguments(parser, timeout=900, devices=300, push_workers=False,
                           waits_for="the app to be managed; at least 0.15 s a device").parse_args(argv)
    if not any(a.startswith("--timeout") for a in argv or ()):  # three exchanges a device (install, two lists):
        args.timeout = max(args.timeout, 0.15 * args.devices)  # 900 s is short for 10,000 on a busy host
    return args


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """Set up, run the measured rollout, tear down; returns the report."""
    import httpx

    from mdm_core.vpp.standin_state import store_bundle_id

    backbone = start_stack(args, "app_rollout")
    run_dir, postmaster, push_log, apns = backbone.run_dir, backbone.postmaster, backbone.push_log, backbone.standin
    servers = [apns]
    licenses = args.devices if args.licenses is None else args.licenses
    report = {**backbone.report, "licenses": licenses, "vpp_delay": args.vpp_delay,
              "command": "python -m benchmarks.app_rollout " + " ".join(shlex.quote(a) for a in argv)}
    try:
        vpp_dir = run_dir / "vpp"
        vpp, vpp_url = start_vpp_standin(vpp_dir, licenses, args.vpp_delay, run_dir / "vpp-standin.log")
        servers.append(vpp)
        vpp_root, ca_bundle = vpp_url.split("/mdm/")[0], str(vpp_dir / "vpp-ca.pem")
        backbone.env.update(VPP_ENDPOINT=vpp_url, VPP_CA_BUNDLE=ca_bundle, ITUNES_LOOKUP_URL=vpp_root + "/lookup")
        api_token, server = start_portal(backbone, args)  # the default scopes hold "apps"
        servers.append(server)
        worker = start_worker(backbone.env, run_dir / "worker.log")
        servers.append(worker)
        app = portal_app(backbone)
        with ClientPool(client_main, (backbone.base_url, api_token, args.threads), args.devices, args.clients,
                        FanoutResult) as clients:
            roots = {"web": [server.pid], "worker": [worker.pid], "apns_standin": [apns.pid],
                     "vpp_standin": [vpp.pid], "clients": clients.pids}
            meter = CpuMeter({**roots, "db": [postmaster]} if postmaster else roots)
            report["setup"] = run_setup(clients, meter, ("enroll", "inventory"), args.devices, SERVER)
            wait_for_empty_outbox(app, timeout=120)
            if postmaster:
                settle_database(backbone.database_url)
            clients.step("presign")
            clients.step("licensing", vpp_root, ca_bundle)

            reference = reference_ms()
            offset = push_log.stat().st_size
            token_file = (vpp_dir / "standin.vpptoken").read_bytes()
            with httpx.Client(base_url=backbone.base_url, timeout=600) as http:
                meter.start()
                clients.send("fanout", str(push_log), offset, store_bundle_id(ADAM_ID), args.timeout)
                started = time.time()
                api(http, "POST", "/api/v1/vpp/token", api_token, 200, content=token_file)
                entry = api(http, "POST", "/api/v1/apps", api_token, 201,
                            json={"adam_id": ADAM_ID, "name": "Bench App", "bundle_id": store_bundle_id(ADAM_ID)})
                scope = api(http, "PUT", f"/api/v1/apps/{entry['id']}/scope", api_token, 200,
                            json={"all_user_enrolled": True})
                api_seconds = time.time() - started
                print(f"app {entry['id']} scoped to {scope['devices_added']} devices in {api_seconds:.1f} s", flush=True)
                result = clients.collect("fanout")
                cpu, steal = meter.stop()
                report["web_worker_rss_mb"] = worker_rss_mb(server.pid)
                counts = status_counts(http, api_token, entry["id"])
            calls = standin_calls(vpp_root, ca_bundle)
        report["phase"] = summarise(result, args.devices, started, api_seconds, calls, counts, cpu, steal,
                                    meter.idle, reference)
        print(json.dumps(report["phase"]), flush=True)
    finally:
        for process in reversed(servers):
            stop(process)
    return report


def main(argv: list[str] | None = None) -> int:
    return report_main(sys.argv[1:] if argv is None else argv, parse_args, run, markdown)


if __name__ == "__main__":
    sys.exit(main())
