"""Profile rollout: one Wi-Fi profile scoped to every user-enrolled device, then a scope change that
removes it from half of them; timed to the last acknowledgement, with the CPU of each step.

Run from the repository root (see benchmarks/README.md)::

    python -m benchmarks.profile_rollout --devices 10000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mdm_bench  # emptied first!

Set-up (not measured), as in ``fanout.py``: the APNs stand-in in its own process, gunicorn, the
worker (``flask worker``: push delivery, and the desired state's jobs), N user-enrolled simulated
devices enrolled over HTTP with their inventory answered. Half of their people (devices 0, 1, 4, 5,
8, 9... so that each load-generator process holds some) are members of the IdP group ``bench-half``,
written as a sign-in's groups claim would; the Wi-Fi profile is uploaded through the API.

Measured:

1. ``rollout``: ``PUT /api/v1/profiles/<id>/scope {"all_user_enrolled": true}``. The request
   reconciles the desired state and queues the first batch of InstallProfile commands; the worker
   queues the rest (its delivery job runs every second). Each device wakes on its push, receives the
   profile, installs it and acknowledges. Reported: the API call, the time to the last acknowledgement,
   server and database CPU per device.
2. ``scope_change``: the same scope excluding ``bench-half``: 5,000 devices (at N=10,000) leave it.
   Reported: the time and CPU of the ``PUT .../scope`` itself (preview counts, the recompute of the
   desired state, the first batch of RemoveProfile commands; goal under 2 s), then the removal's
   roll-out to the last acknowledgement.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

from benchmarks.fanout import (FanoutResult, Stack, cpu_figures, fleet, fleet_arguments, per_interval, pushes_logged,
                               setup_markdown, wait_for_empty_outbox, worker_rss_mb)
from benchmarks.harness import REPO, BenchmarkError, percentile, publish, reference_ms, settle_database

PROFILE = REPO / "tests" / "data" / "profiles" / "wifi-wpa2.mobileconfig"
GROUP = "bench-half"
SCOPE_CHANGE_GOAL_SECONDS = 2.0


def in_group(index: int) -> bool:
    """Half of the devices, and half of each load-generator process's (they are dealt round-robin)."""
    return index % 4 in (0, 1)


def managed_apple_id(index: int) -> str:
    return f"bench-{index}@example.com"  # as EnrollingClient mints them


def add_group_members(app, devices: int) -> None:
    """``bench-half`` with half of the people as members, as their sign-in's groups claim would make it."""
    from sqlalchemy import insert, select

    from portal.extensions import db
    from portal.models import EndUser, Group, GroupMembership
    from portal.scope.groups import SIGN_IN

    members = [managed_apple_id(i) for i in range(devices) if in_group(i)]
    with app.app_context():
        db.session.execute(insert(EndUser), [{"issuer": "https://idp.example.com", "subject": apple_id,
                                              "managed_apple_id": apple_id, "email": apple_id} for apple_id in members])
        group = Group(name=GROUP, source=SIGN_IN)
        db.session.add(group)
        db.session.flush()
        user_ids = db.session.scalars(select(EndUser.id).where(EndUser.managed_apple_id.in_(members))).all()
        db.session.execute(insert(GroupMembership), [{"group_id": group.id, "user_id": user_id, "source": SIGN_IN}
                                                     for user_id in user_ids])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


class Api:
    """The REST calls the benchmark makes, each timed."""

    def __init__(self, http, token: str) -> None:
        self.http, self.headers = http, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expected: int = 200, **kwargs) -> tuple[dict, float]:
        started = time.perf_counter()
        response = self.http.request(method, f"/api/v1{path}", headers=self.headers, **kwargs)
        seconds = time.perf_counter() - started
        if response.status_code != expected:
            raise BenchmarkError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json(), seconds

    def counts(self, profile_id: int) -> dict[str, int]:
        return self.call("GET", f"/profiles/{profile_id}/status")[0]["counts"]


def phase_figures(result: FanoutResult, expected: int, started: float, api_seconds: float, answer: dict,
                  pushes: tuple[int, list[float]], cpu: dict[str, float], steal: float | None,
                  idle: float | None, counts: dict[str, int]) -> dict:
    sent, accepted = pushes
    return {
        "devices": expected,
        "api_answer": answer,
        "api_call_s": round(api_seconds, 2),
        "served": result.served,
        "errors": result.errors + (sent - len(accepted)),
        "seconds_to_last_ack": round(max(result.ack_at) - started, 2) if result.ack_at else None,
        "first_push_s": round(min(accepted) - started, 2) if accepted else None,
        "last_push_s": round(max(accepted) - started, 2) if accepted else None,
        "pushes_accepted": len(accepted),
        "per_10_s": {"pushes": per_interval(accepted, started), "acks": per_interval(result.ack_at, started)},
        "device_requests": result.requests,
        "push_to_ack_ms": {name: round(percentile(result.ack_latencies_ms, q), 1)
                           for name, q in (("p50", 0.50), ("p99", 0.99))},
        **cpu_figures(cpu, expected, steal, idle),
        "status_counts": counts,
        "error_samples": result.error_samples,
    }


def roll_out(stack: Stack, api: Api, request_type: str, timeout: float, expected: list[int], profile_id: int,
             scope: dict) -> tuple[dict, dict]:
    """PUT the scope and wait until every expected device acknowledged ``request_type``; returns the
    phase's figures and those of the API call alone (its time and the CPU spent meanwhile)."""
    clients, meter, push_log = stack.clients, stack.meter, stack.push_log
    offset = push_log.stat().st_size
    meter.start()
    clients.send("fanout", str(push_log), offset, request_type, timeout, expected)
    started = time.time()
    answer, api_seconds = api.call("PUT", f"/profiles/{profile_id}/scope", json=scope)
    call_cpu, _steal = meter.stop()
    meter.start()
    result = clients.collect("fanout")
    rest_cpu, steal = meter.stop()
    cpu = {name: call_cpu[name] + rest_cpu[name] for name in call_cpu}
    figures = phase_figures(result, len(expected), started, api_seconds, answer, pushes_logged(push_log, offset),
                            cpu, steal, meter.idle, api.counts(profile_id))
    call = {"wall_s": round(api_seconds, 3), "web_cpu_s": round(call_cpu["web"], 3),
            "db_cpu_s": round(call_cpu["db"], 3) if "db" in call_cpu else None}
    return figures, call


def summarise(report: dict, devices: int) -> dict:
    rollout, change = report["rollout"], report["scope_change"]
    removed = change["devices"]
    rollout_ok = rollout["errors"] == 0 and rollout["served"] == devices and rollout["status_counts"]["installed"] == devices
    change_ok = (change["errors"] == 0 and change["served"] == removed
                 and change["api_answer"] == {"devices_added": 0, "devices_removed": removed}
                 and change["status_counts"]["installed"] == devices - removed)
    return {"rollout_complete": rollout_ok, "scope_change_complete": change_ok,
            "scope_change_call_s": report["scope_change_call"]["wall_s"],
            "scope_change_goal_met": change_ok and report["scope_change_call"]["wall_s"] < SCOPE_CHANGE_GOAL_SECONDS}


def markdown(report: dict) -> str:
    def row(name: str, phase: dict, call: dict) -> str:
        cpu = phase["cpu_s"]
        db = "-" if phase["db_cpu_ms_per_device"] is None else f"{cpu['db']} s ({phase['db_cpu_ms_per_device']} ms)"
        return (f"| {name} | {phase['devices']} | {phase['api_call_s']} (web {call['web_cpu_s']} s, DB "
                f"{'-' if call['db_cpu_s'] is None else call['db_cpu_s']} s CPU) | {phase['seconds_to_last_ack']} | "
                f"{phase['served']} | {phase['errors']} | {phase['first_push_s']} / {phase['last_push_s']} | "
                f"{phase['push_to_ack_ms']['p50']} / {phase['push_to_ack_ms']['p99']} | "
                f"{round(cpu['web'] + cpu['push_worker'], 2)} ({phase['server_cpu_ms_per_device']}; web {cpu['web']}, "
                f"worker {cpu['push_worker']}) | {db} | {cpu['clients']} | {phase['host_idle_percent']} / "
                f"{phase['host_steal_percent']} |")

    summary = report["summary"]
    return "\n".join([
        f"### {report['database']}, N={report['devices']} ({report['date']})",
        "",
        f"`{report['command']}`",
        "",
        f"gunicorn `{report['gunicorn']}`; {report['clients']} client processes x {report['threads']} threads; "
        f"load before: {report['load_before']}; commit {report['commit']}; reference {report['reference_ms']} ms; "
        f"web worker RSS {report['web_worker_rss_mb']} MB",
        "",
        "| phase | devices | scope API call s (CPU during it) | to last ack s | served | errors | first / last push s "
        "| push-to-ack p50 / p99 ms | server CPU s (ms/device) | DB CPU s (ms/device) | client CPU s "
        "| host idle / steal % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        row("rollout (install)", report["rollout"], report["rollout_call"]),
        row("scope change (remove)", report["scope_change"], report["scope_change_call"]),
        "",
        f"Scope change recomputed in {summary['scope_change_call_s']} s (goal < {SCOPE_CHANGE_GOAL_SECONDS} s): "
        f"{'met' if summary['scope_change_goal_met'] else 'NOT met'}; rollout complete: {summary['rollout_complete']}; "
        f"removal complete: {summary['scope_change_complete']}. Status after: {report['scope_change']['status_counts']}",
        "",
        f"Per 10 s from the scope call: rollout pushes {report['rollout']['per_10_s']['pushes']}, acknowledgements "
        f"{report['rollout']['per_10_s']['acks']}; removal pushes {report['scope_change']['per_10_s']['pushes']}, "
        f"acknowledgements {report['scope_change']['per_10_s']['acks']}",
        "",
        *setup_markdown(report["setup"], "set-up (not measured)"),
    ])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_rollout", description=__doc__.split("\n")[0])
    return fleet_arguments(parser, timeout=900).parse_args(argv)


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """Set up, run the two measured phases, tear down; returns the report."""
    import httpx

    report = {"command": "python -m benchmarks.profile_rollout " + " ".join(shlex.quote(a) for a in argv)}
    with fleet(args, "profile-rollout", report) as stack, \
            httpx.Client(base_url=stack.base_url, timeout=600) as http:
        report["setup"] = stack.setup
        api = Api(http, stack.api_token)
        add_group_members(stack.app, args.devices)
        profile, upload_seconds = api.call("POST", "/profiles", 201, content=PROFILE.read_bytes())
        report["upload_s"] = round(upload_seconds, 3)
        if stack.postmaster:
            settle_database(stack.database_url)
        stack.clients.step("presign")
        report["reference_ms"] = reference_ms()

        everyone = list(range(args.devices))
        report["rollout"], report["rollout_call"] = roll_out(
            stack, api, "InstallProfile", args.timeout, everyone, profile["id"], {"all_user_enrolled": True})
        print(json.dumps({"phase": "rollout", "call": report["rollout_call"], **report["rollout"]}), flush=True)
        wait_for_empty_outbox(stack.app, timeout=120)

        leaving = [index for index in everyone if in_group(index)]
        report["scope_change"], report["scope_change_call"] = roll_out(
            stack, api, "RemoveProfile", args.timeout, leaving, profile["id"],
            {"all_user_enrolled": True, "exclude": {"groups": [GROUP]}})
        print(json.dumps({"phase": "scope_change", "call": report["scope_change_call"], **report["scope_change"]}),
              flush=True)
        report["web_worker_rss_mb"] = worker_rss_mb(stack.server.pid)
    report["summary"] = summarise(report, args.devices)
    print(json.dumps(report["summary"]), flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    report = run(args, argv)
    publish(report, args.json, markdown(report))
    summary = report["summary"]
    return 0 if summary["rollout_complete"] and summary["scope_change_goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
