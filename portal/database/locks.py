"""Transaction-scoped locks for work that must not interleave on PostgreSQL (SQLite runs one writer at a time).

A reconciliation of desired state (declaration sets, profile and app states) reads the scopes, then rewrites
the per-device rows from them in later statements; under READ COMMITTED another transaction's scope change
committed in between would be undone by those writes (its new rows removed, or the rows it removed installed
again). Holding the lock from before the read until the commit orders the reconciliations one after another.
One lock for every kind: a transaction often reconciles several kinds (an enrollment all three, a profile
edit its legacy-profile declarations too), and one key cannot be taken in two orders.

A transaction that writes what a reconciliation under the lock also writes (commands and push rows, licences,
state rows, a declaration's or a person's row, a scope) and reconciles afterwards takes the lock first: a
library or scope change, a sign-in, every SCIM change, offboarding, a phone's first TokenUpdate and its
CheckOut, licence reconciliation. Otherwise it would hold a row the holder waits for while it waits for the
lock, and PostgreSQL would end one of them as a deadlock. The price: a sign-in, a SCIM change or
an enrollment that re-scopes devices waits while the worker's pass reconciles the fleet (set-based statements,
then its commit).
"""
from __future__ import annotations

from enum import IntEnum

from sqlalchemy import text
from sqlalchemy.orm import Session


class Lock(IntEnum):
    """The keys of ``pg_advisory_xact_lock``; any 64-bit number unique to one kind of work."""

    DESIRED_STATE = 0x4445_5349_5245_44  # "DESIRED"


def hold(session: Session, lock: Lock) -> None:
    """Hold ``lock`` until the session's transaction ends, waiting for the transaction holding it (taking it again
    in one transaction costs a round trip and nothing else); nothing on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(lock)})
