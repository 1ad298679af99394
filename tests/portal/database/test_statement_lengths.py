"""Every statement the device connections run on PostgreSQL stays within what psycopg converts once and
caches (``MAX_CACHED_STATEMENT_LENGTH`` characters, ``MAX_CACHED_STATEMENT_PARAMS`` parameters): a longer one is
converted anew at each execution, which cost a DDM status report more CPU than reading it (measured with
``benchmarks/ddm_cpu.py``: a full report 1.41x an idle connect became 1.83x when its statement grew to 8.8 KB)."""
import pytest
from psycopg import _queries
from sqlalchemy import create_engine

from mdm_core import queue
from portal.database.driver import _compile
from portal.inventory.records import ANSWER_KINDS, STATUS_LIST_TABLES
from portal.mdm import declarative_statements, statements
from portal.profiles.results import WRITE_DONE

_DIALECT = create_engine("postgresql+psycopg://").dialect  # psycopg's own, as the app runs them (no connection made)
_DELIVERABLE = (queue.deliverable_statuses(queue.IDLE), queue.deliverable_statuses("Acknowledged"))


def _device_statements():
    for enrollment_type in ("user", "device"):
        yield statements.idle_exchange(enrollment_type)
        yield statements.status_exchange(enrollment_type)
        yield declarative_statements.status_exchange(enrollment_type)
        for answer in ("device", "tokens", "declaration-items", "activation", "declaration"):
            yield declarative_statements.read(enrollment_type, answer)
    for kind in STATUS_LIST_TABLES:
        yield declarative_statements.status_list_exchange(kind)
    for deliverable in _DELIVERABLE:
        yield statements.next_command(deliverable)
        for kind in statements.SETTLE:
            yield statements.settle_and_hand_out(kind, deliverable)
            yield statements.settle_and_hand_out(kind, deliverable, result=WRITE_DONE)
            yield statements.settle_and_hand_out_saying(kind, deliverable)
            for answer_kind in ANSWER_KINDS.values():
                yield statements.settle_and_hand_out(kind, deliverable, answer_kind)


@pytest.mark.parametrize("statement", list(_device_statements()), ids=lambda s: str(id(s)))
def test_psycopg_converts_the_statement_once(statement):
    compiled = _compile(statement._statement, _DIALECT)
    assert len(compiled.sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH, compiled.sql[:200]
    assert len(compiled.binds) <= _queries.MAX_CACHED_STATEMENT_PARAMS, compiled.sql[:200]
