"""Declarative Device Management: the declaration library, each device's declaration set, and what the
devices report back.

Three tables make every device's tokens and manifest (as KMFDDM keeps them): ``declarations`` (JSON
payload and a server token that changes only with the content), ``declaration_assignments`` (the
device's set, written set-based from scope by ``portal.declarations.desired``) and ``ddm_enrollments``
(one row per device managed declaratively: its current ``DeclarationsToken`` and the last one sent in
a ``DeclarativeManagement`` command). ``declaration_statuses`` holds each device's status report per
declaration. What the DDM endpoints answer is stored serialized when it changes (a device's tokens, manifest
and activation with its token; a declaration's JSON with its content, when every device gets the same), so a
request reads one row.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

DECLARATION_KINDS = ("configuration", "asset", "activation", "management")


class Declaration(db.Model):
    """One declaration of the library; deleting it removes the row (devices drop it at their next sync)."""

    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    server_token: Mapped[str] = mapped_column(String(64))  # changes only when type or payload change
    problems: Mapped[list] = mapped_column(JSON, default=list)  # warnings kept from validation
    # The variables it is filled in with ("EMAIL FULL_NAME": sorted, space-separated; "" for none): then its
    # ServerToken is per device, and moves when one of their values does (portal.declarations.sets.device_token).
    variables: Mapped[str] = mapped_column(String(64), default="")
    refers_to: Mapped[list] = mapped_column(JSON, default=list)  # identifiers it names: assets, or an activation's configurations
    # A legacy-profile configuration wraps a library profile (its ProfileURL is served by this server).
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("profiles.id", ondelete="RESTRICT"), index=True)
    # A managed-app configuration drawing on the app catalogue (an App Store app's license follows the person).
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="RESTRICT"), index=True)
    # A data asset this server serves (its Reference.DataURL is ours), read only to serve it.
    asset_data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # A credential asset this server serves: its JSON document sealed (portal.declarations.credentials), never shown.
    credential_sealed: Mapped[str | None] = mapped_column(Text, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))
    # The JSON a device fetches, when it is the same for every device (no variables, no legacy profile): served as is.
    document: Mapped[str | None] = mapped_column(Text)


class DeclarationAssignment(db.Model):
    """A declaration in a device's set."""

    __tablename__ = "declaration_assignments"
    __table_args__ = (Index("ix_declaration_assignments_declaration", "declaration_id", "device_id"),)

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declarations.id", ondelete="CASCADE"), primary_key=True)


class DdmEnrollment(db.Model):
    """A device the server manages declaratively (user-enrolled, iOS 15 or later)."""

    __tablename__ = "ddm_enrollments"
    __table_args__ = (Index("ix_ddm_enrollments_stale", "stale"),)

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    stale: Mapped[bool] = mapped_column(Boolean, default=True)  # its set changed: recompute the token
    declarations_token: Mapped[str | None] = mapped_column(String(64))
    token_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_token: Mapped[str | None] = mapped_column(String(64))  # the token of the last DeclarativeManagement
    sync_command_uuid: Mapped[str | None] = mapped_column(String(64))
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    passcode_compliant: Mapped[bool | None] = mapped_column(Boolean)
    # When a report last carried passcode compliance (a report carries what changed; ``last_status_at`` is any one)
    passcode_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    passcode_present: Mapped[bool | None] = mapped_column(Boolean)
    errors: Mapped[list | None] = mapped_column(JSON)  # the last report's Errors
    # The answers to tokens, declaration-items and the generated activation, as served: written with the token.
    tokens_document: Mapped[str | None] = mapped_column(Text)
    manifest_document: Mapped[str | None] = mapped_column(Text)
    activation_document: Mapped[str | None] = mapped_column(Text)
    # The digest of each list a status report carries as last written (``changed_lists``): a report listing it
    # again unchanged is not written again. NULL: no status report wrote one; ``unknown``: write the next one.
    apps_list_digest: Mapped[str | None] = mapped_column(String(32))
    certificates_list_digest: Mapped[str | None] = mapped_column(String(32))
    accounts_list_digest: Mapped[str | None] = mapped_column(String(32))


class DeclarationStatus(db.Model):
    """What a device last reported for one declaration of its set (by identifier: generated ones too)."""

    __tablename__ = "declaration_statuses"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    server_token: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    valid: Mapped[str] = mapped_column(String(10))  # valid | invalid | unknown
    reasons: Mapped[list | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
