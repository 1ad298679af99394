"""The profile library and each device's desired state for every profile.

A profile's ``revision`` is the SHA-256 of its bytes, so an edit that changes nothing reinstalls
nothing. ``ProfileState`` is one row per device and profile (as Fleet keeps them): what the server
wants there (``operation``) and where that stands (``status``); reconciliation writes these rows with
set-based SQL (``portal.profiles.desired``), delivery turns due rows into commands.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

PROFILE_SOURCES = ("upload", "builder")


class ProfileStatus:
    """The values of ``ProfileState.status``: plain strings, as SQL and JSON take them."""

    PENDING = "pending"  # to install; a command is queued once last_command_uuid is set
    INSTALLED = "installed"
    FAILED = "failed"  # retried at next_attempt_at
    REMOVING = "removing"  # to remove; a command is queued once last_command_uuid is set
    REMOVED = "removed"


PROFILE_STATUSES = (ProfileStatus.PENDING, ProfileStatus.INSTALLED, ProfileStatus.FAILED, ProfileStatus.REMOVING,
                    ProfileStatus.REMOVED)
INSTALL, REMOVE = "install", "remove"


class Profile(db.Model):
    """A configuration profile of the library; deleted ones stay (``deleted_at``) until their removal is done
    and so that uploading the identifier again revives the row."""

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255), unique=True)  # the top-level PayloadIdentifier
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # as uploaded or built; read only to send
    revision: Mapped[str] = mapped_column(String(64))  # SHA-256 of content
    #: the variables it is filled in with, sorted and space-separated (``mdm_core.profile_variables.used_variables``)
    variables: Mapped[str] = mapped_column(String(64), default="")
    problems: Mapped[list] = mapped_column(JSON, default=list)  # the checker's findings for User Enrollment
    user_enrollment: Mapped[str] = mapped_column(String(10))  # allowed | forbidden (the checker's verdict)
    valid_for_user: Mapped[bool] = mapped_column(default=True)  # no error for a user-enrolled device
    valid_for_device: Mapped[bool] = mapped_column(default=True)  # no error for a legacy device enrollment
    source: Mapped[str] = mapped_column(String(10), default="upload")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProfileState(db.Model):
    """One device's desired state for one profile."""

    __tablename__ = "profile_states"
    __table_args__ = (Index("ix_profile_states_device_command", "device_id", "last_command_uuid"),
                      Index("ix_profile_states_status_next", "status", "next_attempt_at"),
                      Index("ix_profile_states_profile_status", "profile_id", "status"))

    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    operation: Mapped[str] = mapped_column(String(10))  # install | remove
    status: Mapped[str] = mapped_column(String(10))
    revision: Mapped[str | None] = mapped_column(String(64))  # the revision last sent to the device
    filled_with: Mapped[str | None] = mapped_column(String(32))  # the digest of the values that copy was filled with
    last_command_uuid: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    error_chain: Mapped[list | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
