"""Local administrator accounts (the IdP signs in employees, not admins)."""
from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs the same time as a hit.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
#: Leads the password hash of a disabled admin (as ``!`` locks a password in /etc/shadow): no password matches it.
DISABLED_MARK = "!"


class Admin(UserMixin, db.Model):
    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def get_id(self) -> str:
        # Changing the password bumps session_version, which signs out every other session.
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        """Set a new password (which enables a disabled admin again) and end every session."""
        self.password_hash = _hasher.hash(password)
        self.session_version = (self.session_version or 0) + 1

    @property
    def disabled(self) -> bool:
        return self.password_hash.startswith(DISABLED_MARK)

    def disable(self) -> None:
        """No sign-in any more and every session ends (``create-admin`` with a new password enables again)."""
        if not self.disabled:
            self.password_hash = DISABLED_MARK + self.password_hash
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        if self.disabled:
            burn_password_check(password)  # answers as slowly as a wrong password
            return False
        try:
            return _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class AdminLoginFailures(db.Model):
    """Failed sign-ins counted per e-mail, known or not (so an unknown e-mail answers like a known one).

    Counted atomically before the password check (``portal/admin/lockout.py``): parallel guesses cannot
    slip past the limit. A row is forgotten once no attempt came for the lock-out period.
    """

    __tablename__ = "admin_login_failures"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def burn_password_check(password: str) -> None:
    """Spend one hash verification for an unknown email (equal timing for hits and misses)."""
    try:
        _hasher.verify(_DUMMY_HASH, password)
    except VerificationError:
        pass
