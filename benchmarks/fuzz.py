"""Fuzzing benchmark: the ``tests/fuzz`` package at 10,000 cases per endpoint (issue 20).

    python -m benchmarks.fuzz [--examples 10000] [--database-url postgresql+psycopg://...]

Runs pytest on ``tests/fuzz`` with ``FUZZ_EXAMPLES`` set, in a process of its own, and prints per
endpoint the cases run, their statuses, the time and the cost per case, then the failures (pytest's
FAILED lines; Hypothesis prints the blob that reproduces each above them) and a Markdown block for
``RESULTS.md``. Without ``--database-url`` the tests' own SQLite file is used; with it, that database's
public schema is DROPPED first (it is the suite's TEST_DATABASE_URL). The exit status is pytest's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000, help="cases per endpoint (default 10,000)")
    parser.add_argument("--database-url", help="a scratch PostgreSQL database (its public schema is dropped)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, e.g. -k checkin")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(timezone.utc)
    report_path = OUT / f"fuzz-{started_at:%Y%m%d-%H%M%S}.json"
    env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples), "FUZZ_REPORT": str(report_path)}
    if args.database_url:
        env["TEST_DATABASE_URL"] = args.database_url
    else:
        env.pop("TEST_DATABASE_URL", None)
    load = os.getloadavg()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/fuzz", *args.pytest_args]
    began = time.perf_counter()
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    sys.stdout.write(run.stdout[-20000:])
    sys.stderr.write(run.stderr[-5000:])

    endpoints = json.loads(report_path.read_text())["endpoints"] if report_path.exists() else {}
    failures = [line for line in run.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    failures += [f"{endpoint}: {figures['failure']}" for endpoint, figures in sorted(endpoints.items())
                 if "failure" in figures]
    database = "PostgreSQL" if args.database_url else "SQLite"
    lines = [f"`python -m benchmarks.fuzz --examples {args.examples}"
             + (" --database-url ..." if args.database_url else "") + "`",
             "",
             f"{started_at:%Y-%m-%d %H:%M} UTC; {database}; load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
             f"{seconds:.0f} s in all",
             "",
             "| endpoint | cases | seconds | ms/case | statuses |",
             "|---|---|---|---|---|"]
    for endpoint, figures in sorted(endpoints.items()):
        cases = figures["cases"]
        statuses = ", ".join(f"{status}: {count}" for status, count in figures["statuses"].items())
        lines.append(f"| {endpoint} | {cases} | {figures['seconds']} | {1000 * figures['seconds'] / max(cases, 1):.1f} "
                     f"| {statuses} |")
    lines += ["", f"Failures: {len(failures)}" + "".join(f"\n- {line}" for line in failures)]
    print("\n" + "\n".join(lines))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
