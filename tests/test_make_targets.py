"""DESIGN section 2's two commands, read as ``make -n -B`` prints them on a fresh clone (nothing is run):
``make run`` migrates, prepares the demo and serves on 127.0.0.1:8000 with gunicorn beside the worker;
``make test`` creates the virtualenv, installs the test extras and runs pytest."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _plan(target: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("VPP_ENDPOINT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(["make", "--no-print-directory", "-n", "-B", target], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_run_migrates_prepares_the_demo_and_serves_with_gunicorn_and_the_worker():
    plan = _plan("run")
    steps = [".venv/bin/flask db upgrade", ".venv/bin/flask demo-setup", ".venv/bin/flask worker &",
             ".venv/bin/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:8000"]
    assert all(step in plan for step in steps), plan
    assert [plan.index(step) for step in steps] == sorted(plan.index(step) for step in steps)
    assert plan.rstrip().endswith("wsgi:app")


def test_make_test_installs_the_test_extras_and_runs_the_whole_suite():
    plan = _plan("test")
    steps = ["-m venv .venv", '.venv/bin/python -m pip install --quiet -e ".[test]"', ".venv/bin/python -m pytest"]
    found = [plan.find(step) for step in steps]
    assert -1 not in found and found == sorted(found), plan
