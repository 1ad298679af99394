"""Searches at scale (from the scale review): the audit log's filters once had no index to serve
them on PostgreSQL, so each read the whole table (an append-only table that is never pruned: 500,000 events answered
an ``actor`` filter in 168 ms, a ``target_type``/``target_id`` one in 64 ms, growing with the log), and the
device list's sorts (below).

The plans are asked with sequential scans (or sorts) priced out (``enable_seqscan``/``enable_sort`` off), so the
answer does not depend on how many rows the test database holds: an index that can serve is then used."""
from datetime import timedelta

import pytest
from sqlalchemy import insert, text

from portal.audit_search import audit_statement, parse_audit_query
from portal.extensions import db
from portal.inventory.query import page_statement, parse_query
from portal.models import AuditEvent

pytestmark = pytest.mark.postgres_only("EXPLAIN of PostgreSQL's planner")


def plan(statement, **settings) -> str:
    sql = str(statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    for name, value in settings.items():
        db.session.execute(text(f"SET LOCAL {name} = {value}"))
    lines = db.session.execute(text("EXPLAIN " + sql)).scalars().all()
    db.session.rollback()
    return "\n".join(lines)


def other_events(count: int = 2000) -> None:
    """Fill the log with events no filter below matches, and ANALYZE it, in the transaction ``plan`` rolls back:
    the planner then knows a filter is selective, as on a real log, instead of guessing from an empty table (where
    walking the primary key backwards and filtering can look as cheap as the filter's index, so the plan, and the
    test, depended on what earlier tests had left in the statistics)."""
    db.session.execute(insert(AuditEvent), [
        {"actor_type": "system", "actor": "worker", "action": "other.event", "target_type": "profile",
         "target_id": str(n % 50)} for n in range(count)])
    db.session.execute(text("ANALYZE audit_events"))


def index_conditions(explained: str) -> str:
    return "\n".join(line for line in explained.splitlines() if "Index Cond" in line or "Recheck Cond" in line)


@pytest.mark.parametrize("args, column", [
    ({"action": "command."}, "action"),  # the documented prefix search: LIKE 'command.%' cannot use a plain btree
    ({"action": "device.enrolled"}, "action"),
    ({"actor": "admin@example.org"}, "actor"),  # lower(actor) = ...: no index on the expression
    ({"target_type": "device", "target_id": "7"}, "target_id"),
    ({"actor_type": "admin"}, "actor_type"),
])
def test_each_audit_filter_is_served_by_an_index(app_ctx, args, column):
    statement = audit_statement(parse_audit_query(args))
    other_events()

    explained = plan(statement, enable_seqscan="off")

    assert column in index_conditions(explained), f"{args}: the filter is applied row by row:\n{explained}"


def test_a_devices_migration_history_is_read_through_an_index_on_its_target(app_ctx):
    """The migration page of one device reads its events by target (``portal/migration/actions.py``)."""
    from sqlalchemy import select

    statement = select(AuditEvent).where(AuditEvent.target_type == "device", AuditEvent.target_id == "7",
                                         AuditEvent.action.in_(["device.enrolled", "migration.notified"]))
    other_events()

    explained = plan(statement, enable_seqscan="off")

    assert "target_id" in index_conditions(explained), explained


@pytest.mark.parametrize("sort", ["os_version", "-os_version", "model", "managed_apple_id"])
def test_the_device_list_sorts_through_an_index_not_by_sorting_the_fleet(app_ctx, sort):
    """The device list's sorts on OS version, model and Managed Apple ID once sorted the whole fleet on every page,
    cursor pages too (the plain ``(os_version, id)`` and ``(model, id)`` indexes could not serve the sort on
    ``coalesce(column, '')``)."""
    statement = page_statement(parse_query({"sort": sort}, default_limit=50), timedelta(days=30))

    explained = plan(statement, enable_sort="off")

    assert "Sort" not in explained, f"sort={sort}: every page sorts every device:\n{explained}"
