"""Employees as the organisation's identity provider describes them.

A person comes from OIDC sign-in (``issuer``/``subject``) or from directory sync (SCIM: ``scim_id``), or
both: the two meet on the Managed Apple ID, so each person is one row whichever arrived first.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, trigram_indexes, utcnow


class EndUser(db.Model):
    __tablename__ = "end_users"
    __table_args__ = (UniqueConstraint("issuer", "subject"), *trigram_indexes("end_users", ("name", "email")))

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unset for a person directory sync provisioned who has not signed in yet.
    issuer: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(255))
    managed_apple_id: Mapped[str] = mapped_column(String(320), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    groups: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # In every session cookie; bumping it (portal.auth.end_employee_sessions) ends every copy of them.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    source: Mapped[str] = mapped_column(String(10), default="sign_in", server_default="sign_in")  # sign_in, scim
    # SCIM: the id we gave the resource (stable), the directory's own id, and the resource as last written.
    scim_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    user_name: Mapped[str | None] = mapped_column(String(320), unique=True)
    scim_resource: Mapped[dict | None] = mapped_column(JSON)
    # Set while the person is offboarded (deactivated or deleted): no sign-in, no session, enrollments retired.
    offboarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The language picked at their last sign-in (portal.i18n): mail to them goes out in it.
    language: Mapped[str | None] = mapped_column(String(8))
