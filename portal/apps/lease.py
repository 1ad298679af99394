"""The Apps and Books job's lease: one job calls the service at a time, on any node (the worker's pass, another
node's, an admin's "sync now"), since two would associate the same licenses.

The job commits step by step, so no transaction's lock can cover it, and a session-level advisory lock would not
survive PgBouncer's transaction pooling (docs/deployment.md): the lease is a time on the content token's row
(``vpp_tokens.sync_until``), taken by one conditional UPDATE, renewed between the job's steps and given back at
its end. It is renewed before each call to the service (``LeasedClient``), so a job that outlived it (calls that
took longer) stops before its next call, not after another job made the same one; a job that dies leaves it to
expire (``LEASE``).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from ..models import VppToken
from ..models.base import utcnow

#: Longer than any one call to the service: a 30 s timeout, tried twice within seconds.
LEASE = timedelta(minutes=5)


class LeaseLost(RuntimeError):
    """This job's lease ran out and another job took it: this one stops."""


class Lease:
    """This job's lease on the token row, until ``until``."""

    def __init__(self, session: Session, token_row: int, until: datetime) -> None:
        self.session, self.token_row, self.until = session, token_row, until

    def renew(self) -> None:
        """Extend it (committed); LeaseLost when it is no longer this job's."""
        later = utcnow() + LEASE
        if not self._move_to(later):
            raise LeaseLost("another Apps and Books job took the lease")
        self.until = later

    def give_back(self) -> None:
        """End it if it is still this job's (committed)."""
        self._move_to(None)

    def _move_to(self, until: datetime | None) -> bool:
        moved = self.session.execute(update(VppToken).where(VppToken.id == self.token_row,
                                                            VppToken.sync_until == self.until)
                                     .values(sync_until=until).execution_options(synchronize_session=False)).rowcount
        self.session.commit()
        return bool(moved)


def take(session: Session, token_row: int) -> Lease | None:
    """This job's lease (committed), or None when another job holds it."""
    now = utcnow()
    taken = session.execute(update(VppToken).where(
        VppToken.id == token_row, or_(VppToken.sync_until.is_(None), VppToken.sync_until <= now))
        .values(sync_until=now + LEASE).execution_options(synchronize_session=False)).rowcount
    session.commit()
    return Lease(session, token_row, now + LEASE) if taken else None


class LeasedClient:
    """The service's client (``mdm_core.vpp.client.VppClient``) for a job holding ``lease``: each call renews the
    lease first (LeaseLost, and no call, when another job took it)."""

    def __init__(self, client: Any, lease: Lease) -> None:
        self._client, self._lease = client, lease

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def renewed_first(*args: Any, **kwargs: Any) -> Any:
            self._lease.renew()
            return attribute(*args, **kwargs)
        return renewed_first
