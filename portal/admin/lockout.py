"""Admin sign-in lock-out: each attempt is counted in one atomic statement before its password check.

Reading a counter, checking the password and writing the counter back let parallel guesses all pass the
check before any failure was recorded. Here an attempt first takes a slot (``INSERT ... ON CONFLICT DO
UPDATE ... WHERE failures < limit RETURNING``, committed at once); only an attempt that got one checks the
password, and the slot that reaches the limit also sets the lock. A right password frees every slot.
Unknown e-mails are counted the same way, so they answer 401 and then 429 like known ones.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import case, delete, literal
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import AdminLoginFailures
from ..models.base import utcnow

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def take_attempt(email: str) -> bool:
    """Count one sign-in attempt for ``email`` and commit; False when the e-mail is locked out.

    Failures are forgotten once no attempt came for the lock-out period (which also ends a lock).
    """
    limit = current_app.config["ADMIN_MAX_FAILED_LOGINS"]
    period = timedelta(seconds=current_app.config["ADMIN_LOCKOUT_SECONDS"])
    now = utcnow()
    table = AdminLoginFailures.__table__
    db.session.execute(delete(table).where(table.c.last_attempt_at <= now - period))
    insert = _INSERTS[db.session.get_bind().dialect.name](table).values(
        email=email, failures=1, locked_until=now + period if limit <= 1 else None, last_attempt_at=now)
    lock_end = literal(now + period, table.c.locked_until.type)
    counted = db.session.execute(insert.on_conflict_do_update(
        index_elements=[table.c.email],
        set_={"failures": table.c.failures + 1, "last_attempt_at": now,
              "locked_until": case((table.c.failures + 1 >= limit, lock_end), else_=None)},
        where=table.c.failures < limit,
    ).returning(table.c.failures)).first()
    db.session.commit()
    return counted is not None


def forget_failures(email: str) -> None:
    """A right password: the e-mail starts again with no failures (the caller commits)."""
    db.session.execute(delete(AdminLoginFailures.__table__).where(AdminLoginFailures.email == email))
