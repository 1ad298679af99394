"""Fixed-window counters in the database, so every web worker and node counts against the same limit.

A check is one atomic statement: ``INSERT ... ON CONFLICT (key, resets_at) DO UPDATE SET count =
count + increment RETURNING key, count`` for all of a request's keys at once, run in autocommit on a
connection of its own, so the count stands whatever the request's own transaction does.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from ..models import RateLimitHit
from ..models.base import utcnow
from ..rate_limit_quotas import Quota

_INSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}
_TABLE = RateLimitHit.__table__


@dataclass(frozen=True)
class Hit:
    """One key to count. ``increment`` 0 reads without counting: a failures-only limit closing its
    endpoint once the failures reached the quota."""

    key: str
    quota: Quota
    increment: int = 1

    def exceeded_by(self, count: int) -> bool:
        return count > self.quota.count if self.increment else count >= self.quota.count


@dataclass(frozen=True)
class Exceeded:
    key: str
    retry_after: int  # seconds to the end of the window
    first: bool  # this request is the first refused in its window (log it once)


def clock() -> float:
    """The current time in seconds since the epoch (tests move it to the next window)."""
    return time.time()


def count(hits: list[Hit]) -> Exceeded | None:
    """Count ``hits`` in their current windows; the limit this request exceeds (the longest wait), or None."""
    now = clock()
    ends = {hit.key: (int(now) // hit.quota.seconds + 1) * hit.quota.seconds for hit in hits}
    # one lock order for every request: two requests sharing keys never wait for each other in turn
    rows = sorted(({"key": hit.key, "resets_at": datetime.fromtimestamp(ends[hit.key], timezone.utc),
                    "count": hit.increment} for hit in hits), key=lambda row: row["key"])
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        insert = _INSERTS[connection.dialect.name](_TABLE).values(rows)
        statement = insert.on_conflict_do_update(
            index_elements=[_TABLE.c.key, _TABLE.c.resets_at],
            set_={"count": _TABLE.c.count + insert.excluded.count},
        ).returning(_TABLE.c.key, _TABLE.c.count)
        counts = dict(connection.execute(statement).all())
    worst = None
    for hit in hits:
        if hit.exceeded_by(counts[hit.key]):
            retry_after = max(1, math.ceil(ends[hit.key] - now))
            if worst is None or retry_after > worst.retry_after:
                worst = Exceeded(hit.key, retry_after, first=hit.increment == 1 and counts[hit.key] == hit.quota.count + 1)
    return worst


def purge_expired() -> int:
    """Delete the counters of windows that have ended; returns how many (the worker calls this)."""
    with db.engine.begin() as connection:
        return connection.execute(delete(_TABLE).where(_TABLE.c.resets_at <= utcnow())).rowcount
