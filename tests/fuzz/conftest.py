"""Fixtures of the fuzz tests: rate limits off (every case comes from one address), one enrolled phone
and a bystander whose rows no case may touch, the log watched for tracebacks."""
from __future__ import annotations

import pytest

from tests.fuzz.harness import watched_logs, write_report


def pytest_sessionfinish(session, exitstatus) -> None:
    write_report()


@pytest.fixture
def no_rate_limits(app):
    saved = app.config["RATE_LIMIT_QUOTAS"]
    app.config["RATE_LIMIT_QUOTAS"] = {}
    yield
    app.config["RATE_LIMIT_QUOTAS"] = saved


@pytest.fixture
def tracebacks():
    with watched_logs() as handler:
        yield handler
