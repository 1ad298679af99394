"""What every fuzz case checks, and how many cases run.

``FUZZ_EXAMPLES`` sets the cases per endpoint (default 100, so the package stays well under a minute in
CI; ``benchmarks/fuzz.py`` runs 10,000). ``FUZZ_REPORT`` names a JSON file that receives, per
endpoint, the cases run, their statuses and the time taken. Hypothesis runs unseeded (a fuzzer should
wander) and keeps no example database; a failure prints the blob that reproduces it
(``@reproduce_failure``).
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings
from sqlalchemy import select

from portal.extensions import db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))

#: The rows a device request may write; every other table is the business of other requests (rate limit
#: counters and the audit log change on refusals by design).
WATCHED_TABLES = ("devices", "commands", "device_inventories", "device_apps", "device_profiles",
                  "device_certificates", "device_accounts", "inventory_changes", "push_outbox", "enrollment_grants",
                  "enrollment_access_tokens", "end_users", "ddm_enrollments", "declaration_statuses")
#: Stamped by any request that proves its identity, even one whose report is then refused.
IGNORED_COLUMNS = frozenset({"last_seen_at"})

_RESULTS: dict[str, dict[str, Any]] = {}


def fuzz_settings(**overrides: Any) -> settings:
    return settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck), **overrides)


class Tracebacks(logging.Handler):
    """Collects every log record that carries a traceback or is an error: a fuzz case may log neither."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)

    def take(self) -> list[str]:
        found = [f"{r.levelname} {r.name}: {r.getMessage()}" + (f"\n{logging.Formatter().formatException(r.exc_info)}"
                                                                  if r.exc_info else "") for r in self.records]
        self.records.clear()
        return found


@contextmanager
def watched_logs():
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _statements() -> dict[str, str]:
    """Per watched table, a plain SELECT of its rows in key order, the key first and the stamped
    columns left out (run on the driver's cursor: SQLAlchemy's result processing cost more than the query)."""
    statements = {}
    for name in WATCHED_TABLES:
        table = db.metadata.tables[name]
        key = [column.name for column in table.primary_key]
        columns = key + [column.name for column in table.c if column.name not in IGNORED_COLUMNS]
        statements[name] = (f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)} FROM "{name}" '
                            f'ORDER BY {", ".join(key)}')
    return statements


def snapshot(app) -> dict[str, list[tuple]]:
    """The watched tables' rows, without the columns every proven request stamps."""
    with app.app_context(), db.engine.connect() as connection:
        return {name: [tuple(row) for row in connection.exec_driver_sql(statement).fetchall()]
                for name, statement in _statements().items()}


def _owner(table: str, row: tuple, device_id: int) -> bool:
    if table == "devices":
        return row[0] == device_id
    names = [c.name for c in db.metadata.tables[table].primary_key]
    names += [c.name for c in db.metadata.tables[table].c if c.name not in IGNORED_COLUMNS]
    return "device_id" in names and row[names.index("device_id")] == device_id


def changes(before: dict, after: dict, *, except_device: int | None = None) -> list[str]:
    """The watched rows that differ, leaving out those of ``except_device`` (the device a request
    was accepted for may change its own rows, and only those)."""
    found = []
    for table in WATCHED_TABLES:
        if before[table] == after[table]:
            continue
        old, new = ({row[0]: row for row in rows} for rows in (before[table], after[table]))
        for key in set(old) | set(new):
            if old.get(key) == new.get(key):
                continue
            if except_device is not None and _owner(table, new.get(key) or old[key], except_device):
                continue
            found.append(f"{table} {key}: {old.get(key)!r} -> {new.get(key)!r}"[:400])
    return found


class Cases:
    """Counts one endpoint's cases and their statuses for the report: ``with Cases(endpoint) as cases:``."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.statuses: Counter[str] = Counter()
        self.started = 0.0

    def count(self, status: int | str) -> None:
        self.statuses[str(status)] += 1

    def __enter__(self) -> Cases:
        self.started = time.perf_counter()
        return self

    def __exit__(self, kind, error, trace) -> None:
        _RESULTS[self.endpoint] = {"cases": sum(self.statuses.values()), "statuses": dict(sorted(self.statuses.items())),
                                   "seconds": round(time.perf_counter() - self.started, 1)}
        if error is not None:
            _RESULTS[self.endpoint]["failure"] = f"{kind.__name__}: {error}"[:1000]


def write_report() -> None:
    path = os.environ.get("FUZZ_REPORT")
    if path and _RESULTS:
        with open(path, "w", encoding="utf-8") as report:
            json.dump({"examples": EXAMPLES, "endpoints": _RESULTS}, report, indent=2, sort_keys=True)
