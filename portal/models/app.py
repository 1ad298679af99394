"""Managed apps: the Apps and Books content token, the catalogue, licenses per person, and each device's
desired state for each app.

Licenses belong to people, not devices (user-based assignment: a user-enrolled phone has no serial
number): ``AppUser`` is a person as the Apps and Books service knows them (``client_user_id``, a random
UUID kept for good, never the e-mail), ``AppLicense`` one license of one app for one person, and
``AppState`` one device's state for one app, as ``ProfileState`` is for profiles. The rows with work
left (a user to register, a license to associate or release) are the queue of the worker's
service job, so a failed call loses nothing.
"""
from __future__ import annotations

from datetime import datetime
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

APP_SOURCES = ("vpp", "manifest")


class AppStatus:
    """The values of ``AppState.status``."""

    PENDING = "pending"  # to install (or to configure again); a command is queued once last_command_uuid is set
    # the device accepted InstallApplication; waiting for it to report the app managed (with no last_command_uuid:
    # a new configuration is to be sent first, at next_attempt_at after a failure; the row stays installing through
    # it, and through its failure)
    INSTALLING = "installing"
    INSTALLED = "installed"
    FAILED = "failed"  # retried at next_attempt_at
    NO_LICENSE = "no_license"  # waiting for a license of the person's (none left)
    REMOVING = "removing"
    REMOVED = "removed"

    @staticmethod
    def kept(before: str, status: str) -> str:
        """The status a row takes for an outcome (``status``): an install not yet confirmed stays ``installing``
        through anything but a list's answer (only a list confirms it)."""
        return AppStatus.INSTALLING if before == AppStatus.INSTALLING else status


APP_STATUSES = (AppStatus.PENDING, AppStatus.INSTALLING, AppStatus.INSTALLED, AppStatus.FAILED, AppStatus.NO_LICENSE,
                AppStatus.REMOVING, AppStatus.REMOVED)


class LicenseStatus:
    """The values of ``AppLicense.status``."""

    WANTED = "wanted"  # to associate once the person is registered
    ASSOCIATING = "associating"  # association submitted (event_id); polled
    ASSOCIATED = "associated"
    NO_LICENSE = "no_license"  # none left: waits for more
    RELEASING = "releasing"  # to disassociate
    DISASSOCIATING = "disassociating"  # disassociation submitted (event_id); polled


class VppToken(db.Model):
    """The location's content token (one row, ``id`` 1), sealed at rest, and what the service said of it."""

    __tablename__ = "vpp_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    sealed_token: Mapped[bytes] = mapped_column(LargeBinary)  # the .vpptoken file, encrypted (portal.apps.tokens)
    organization: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by: Mapped[str | None] = mapped_column(String(320))
    location_name: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # our clientContext is set
    other_server: Mapped[str | None] = mapped_column(Text)  # the clientContext another server left there
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the service refused it as expired
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)  # Retry-After: no call before then
    sync_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a job calls the service until then (its lease)


class App(db.Model):
    """An app of the catalogue: an App Store app of the location's assets (``adam_id``) or an in-house app
    (``manifest_url``)."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(10))
    adam_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    pricing_param: Mapped[str | None] = mapped_column(String(10))
    manifest_url: Mapped[str | None] = mapped_column(String(2000))
    name: Mapped[str | None] = mapped_column(String(255))
    bundle_id: Mapped[str | None] = mapped_column(String(255))
    icon_url: Mapped[str | None] = mapped_column(String(2000))
    licenses_total: Mapped[int] = mapped_column(Integer, default=0)
    licenses_assigned: Mapped[int] = mapped_column(Integer, default=0)
    licenses_available: Mapped[int] = mapped_column(Integer, default=0)
    device_assignable: Mapped[bool] = mapped_column(Boolean, default=True)
    configuration: Mapped[bytes | None] = mapped_column(LargeBinary)  # managed app configuration, an XML plist
    configuration_revision: Mapped[str | None] = mapped_column(String(64))
    vpn_profile_id: Mapped[int | None] = mapped_column(ForeignKey("profiles.id", ondelete="SET NULL"))
    vpn_uuid: Mapped[str | None] = mapped_column(String(255))
    remove_on_unenroll: Mapped[bool] = mapped_column(Boolean, default=True)
    in_service: Mapped[bool] = mapped_column(Boolean, default=True)  # still among the location's assets
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AppUser(db.Model):
    """A person as the Apps and Books service knows them, by Managed Apple ID."""

    __tablename__ = "app_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    managed_apple_id: Mapped[str] = mapped_column(String(320), unique=True)
    client_user_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | registering | registered
    event_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)  # why the service refused the registration
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # refusals in a row
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # registered again from then on
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppLicense(db.Model):
    """One app's license for one person (never one per device)."""

    __tablename__ = "app_licenses"
    __table_args__ = (Index("ix_app_licenses_status", "status"),)

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    app_user_id: Mapped[int] = mapped_column(ForeignKey("app_users.id", ondelete="CASCADE"), primary_key=True,
                                             index=True)
    status: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # refused associations in a row
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # associated again from then on
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppState(db.Model):
    """One device's desired state for one app."""

    __tablename__ = "app_states"
    __table_args__ = (Index("ix_app_states_device_command", "device_id", "last_command_uuid"),
                      Index("ix_app_states_status_next", "status", "next_attempt_at"),
                      Index("ix_app_states_app_status", "app_id", "status"))

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    operation: Mapped[str] = mapped_column(String(10))  # install | remove
    status: Mapped[str] = mapped_column(String(12))
    configuration_revision: Mapped[str | None] = mapped_column(String(64))  # the configuration last sent
    filled_with: Mapped[str | None] = mapped_column(String(32))  # the digest of the values that copy was filled with
    identifier: Mapped[str | None] = mapped_column(String(255))  # the bundle ID the device reported
    last_command_uuid: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    error_chain: Mapped[list | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
