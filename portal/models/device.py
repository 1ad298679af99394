"""Enrolled devices: one row per enrollment, keyed by EnrollmentID (User Enrollment) or UDID (legacy).

User Enrollment reveals no hardware identifier, so a phone that enrolls again is a new row;
see docs/decisions.md.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, ForeignKey, Index, String, and_, func, literal_column, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, trigram_indexes, utcnow
from .user import EndUser

ENROLLMENT_TYPES = ("user", "device")
#: Columns the device search matches by substring (PostgreSQL: trigram indexes make it fast).
SEARCHED_COLUMNS = ("managed_apple_id", "model", "model_name", "product_name", "os_version", "device_name")


class DeviceStatus:
    """The values of ``Device.status``: plain strings, so drivers, SQL and JSON take them as they are."""

    PENDING = "pending"  # TokenUpdate not received yet
    ENROLLED = "enrolled"
    UNENROLLED = "unenrolled"  # CheckOut received; the row stays for history


DEVICE_STATUSES = (DeviceStatus.PENDING, DeviceStatus.ENROLLED, DeviceStatus.UNENROLLED)


class Device(db.Model):
    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_status_last_seen", "status", "last_seen_at"),
                      Index("ix_devices_last_seen_id", "last_seen_at", "id"),
                      Index("ix_devices_type_method", "enrollment_type", "enrollment_method"),
                      *trigram_indexes("devices", SEARCHED_COLUMNS))

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_type: Mapped[str] = mapped_column(String(10))
    enrollment_method: Mapped[str] = mapped_column(String(20))  # profile_driven, account_driven, api
    enrollment_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    udid: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=DeviceStatus.ENROLLED)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("end_users.id"), index=True)
    managed_apple_id: Mapped[str | None] = mapped_column(String(320), index=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("enrollment_grants.id"))
    certificate_fingerprint: Mapped[str] = mapped_column(String(64), index=True)  # who signs an asset fetch
    # Account-Driven enrollments: hash of the access token the phone sends on every MDM request.
    access_token_hash: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str | None] = mapped_column(String(255))
    push_token: Mapped[str | None] = mapped_column(String(200))
    push_magic: Mapped[str | None] = mapped_column(String(100))
    push_token_dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    os_version: Mapped[str | None] = mapped_column(String(40))
    build_version: Mapped[str | None] = mapped_column(String(40))
    product_name: Mapped[str | None] = mapped_column(String(80))
    model: Mapped[str | None] = mapped_column(String(80))
    model_name: Mapped[str | None] = mapped_column(String(120))
    device_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the first check-in; never NULL, so the device list can sort and page on it with an index.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unenrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inventory_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    user: Mapped[EndUser | None] = relationship(lazy="joined")

    @property
    def identifier(self) -> str:
        return self.enrollment_id if self.enrollment_type == "user" else self.udid


#: Columns the device list sorts on that may be NULL (``portal.inventory.query``).
SORTED_TEXT_COLUMNS = ("managed_apple_id", "os_version", "model")


def sort_value(column: ColumnElement) -> ColumnElement:
    """A text column as the device list sorts it: NULL as '' so (value, id) keysets compare on every backend. The ''
    is written in the SQL, not bound, so the statement's expression is the index's on PostgreSQL whatever plan."""
    return func.coalesce(column, literal_column("''"))


for _name in SORTED_TEXT_COLUMNS:
    Index(f"ix_devices_{_name}_sort", sort_value(getattr(Device, _name)), Device.id)


def owned_by(person: EndUser | type[EndUser]) -> ColumnElement[bool]:
    """A person's enrollments (``EndUser`` itself: correlated): the ones linked to them, and the ones linked to
    nobody that carry their Managed Apple ID.

    An enrollment is linked to the person who held its Managed Apple ID when it enrolled (``address_holder``: a
    profile the API minted names only the address), and one made while nobody held the address to the first
    person who then takes it (``claim_unlinked``, at sign-in and directory sync). So an unlinked enrollment is
    one whose address nobody has taken since: its first holder's, never a later one's; an address given to
    someone new does not bring the previous holder's devices with it.
    """
    return or_(Device.user_id == person.id,
               and_(Device.user_id.is_(None), Device.managed_apple_id == person.managed_apple_id))


def address_holder(session: Session, managed_apple_id: str | None) -> int | None:
    """The person who holds ``managed_apple_id`` now: not offboarded (the newest account, should two hold it)."""
    if not managed_apple_id:
        return None
    with session.no_autoflush:  # the caller may hold a device being written, not yet whole
        return session.scalar(select(EndUser.id).where(EndUser.managed_apple_id == managed_apple_id,
                                                       EndUser.offboarded_at.is_(None))
                              .order_by(EndUser.id.desc()).limit(1))


def claim_unlinked(session: Session, person: EndUser) -> int:
    """``person`` now holds their Managed Apple ID: the enrollments made with it while nobody held it become
    theirs (the first holder's); how many. The caller commits, and re-scopes the person's devices if any."""
    if person.id is None or person.offboarded_at is not None:
        return 0
    claimed = session.execute(update(Device).where(Device.user_id.is_(None),
                                                   Device.managed_apple_id == person.managed_apple_id)
                              .values(user_id=person.id))
    return claimed.rowcount or 0
