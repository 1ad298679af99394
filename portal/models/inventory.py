"""What inventory commands reported about each device, and the history of its changes.

Only sanitised reports reach these tables (``mdm_core.results``), so a user-enrolled device's
rows never hold a field User Enrollment forbids.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class DeviceInventory(db.Model):
    """The latest DeviceInformation and SecurityInfo answers, one row per device."""

    __tablename__ = "device_inventories"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    security: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    facts_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    security_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeviceApp(db.Model):
    """A managed app on a device (User Enrollment never reveals personal apps)."""

    __tablename__ = "device_apps"
    __table_args__ = (UniqueConstraint("device_id", "identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(255))
    short_version: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(255))
    bundle_size: Mapped[int | None] = mapped_column(BigInteger)
    #: The identifier a DDM status report (``app.managed.list``) gave it; None: an inventory command reported it.
    status_identifier: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceProfile(db.Model):
    """A configuration profile installed on a device, as ProfileList reported it."""

    __tablename__ = "device_profiles"
    __table_args__ = (UniqueConstraint("device_id", "identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    organization: Mapped[str | None] = mapped_column(String(255))
    uuid: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int | None] = mapped_column(Integer)
    is_managed: Mapped[bool] = mapped_column(Boolean, default=True)
    payload_types: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceCertificate(db.Model):
    """A certificate on a device, known by the SHA-256 of its DER."""

    __tablename__ = "device_certificates"
    __table_args__ = (UniqueConstraint("device_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    common_name: Mapped[str | None] = mapped_column(String(255))
    is_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The identifier a DDM status report (``security.certificate.list``) gave it; None: a CertificateList did.
    status_identifier: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceAccount(db.Model):
    """An account a declaration installed on a device, as its DDM status reports list it (``account.list.*``)."""

    __tablename__ = "device_accounts"
    __table_args__ = (UniqueConstraint("device_id", "identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    #: ``<account type>/<the report's identifier>``: each list's identifiers are its own.
    identifier: Mapped[str] = mapped_column(String(255))
    account_type: Mapped[str] = mapped_column(String(40))  # mail.incoming, mail.outgoing, exchange, caldav...
    declaration_identifier: Mapped[str] = mapped_column(String(255))
    visible_name: Mapped[str | None] = mapped_column(String(255))
    hostname: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(255))
    #: The identifier the status report gave it (every row: only status reports list accounts).
    status_identifier: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InventoryChange(db.Model):
    """One change between two inventory reports: a fact changed, an item appeared or went away."""

    __tablename__ = "inventory_changes"
    __table_args__ = (Index("ix_inventory_changes_device_at", "device_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # facts, security, apps, profiles, certificates
    key: Mapped[str] = mapped_column(String(255))
    old: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)
