"""Who an item (a profile; later an app or a declaration) is for: groups, smart groups and scope targets.

Groups come from the identity provider's groups claim at every sign-in (``source`` ``sign_in``)
and later from directory sync (``scim``); a membership row says which source vouches for it.
Scope targets name groups by name and users by Managed Apple ID, so a scope may name a group
nobody has signed in with yet. Resolution is one SQL statement (``portal.scope.resolve``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

GROUP_SOURCES = ("sign_in", "scim")
TARGET_KINDS = ("all_user_enrolled", "group", "user", "smart_group", "include_legacy")


class Group(db.Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    source: Mapped[str] = mapped_column(String(10))  # where the group was first seen
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # SCIM: the id we gave the group (stable across renames) and the directory's own id.
    scim_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GroupMembership(db.Model):
    __tablename__ = "group_memberships"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("end_users.id", ondelete="CASCADE"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(10), primary_key=True)


class SmartGroup(db.Model):
    """A saved device search over inventory (criteria: ``portal.scope.smart_groups``)."""

    __tablename__ = "smart_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(320))


class ScopeTarget(db.Model):
    """One target of an item's scope; ``excluded`` ones are subtracted from the union of the others."""

    __tablename__ = "scope_targets"
    __table_args__ = (Index("ix_scope_targets_item", "item_type", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_type: Mapped[str] = mapped_column(String(20))  # profile (apps and declarations later)
    item_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str | None] = mapped_column(String(320))  # group name, or a user's Managed Apple ID
    smart_group_id: Mapped[int | None] = mapped_column(ForeignKey("smart_groups.id", ondelete="CASCADE"), index=True)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
