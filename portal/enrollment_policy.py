"""Who may enroll, by which method: one function, one clear reason, shared by every enrollment flow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext, ngettext
from sqlalchemy import and_, func, or_, select

from .extensions import db
from .models import Device, EndUser
from .models.base import utcnow
from .models.device import DeviceStatus
from .settings_store import EnrollmentSettings, load_enrollment_settings

METHOD_SETTING = {
    "profile_driven": "profile_driven_enabled",
    "account_driven": "account_driven_enabled",
    "legacy": "legacy_device_enrollment_enabled",
}
#: A pending enrollment (Authenticate, no TokenUpdate yet) holds a place under the device limit
#: this long after its last contact. A phone may abort the profile installation after
#: Authenticate and never say so; such a row must not block its user for ever.
PENDING_COUNTS_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class Eligibility:
    """``allowed``, or ``code`` (stable, for logs and tests) and ``reason`` (for the person)."""

    allowed: bool
    code: str = "ok"
    reason: str = ""


def active_device_count(user: EndUser, *, excluding_device_id: int | None = None) -> int:
    """The user's enrolled devices, and those pending since less than ``PENDING_COUNTS_FOR``."""
    recently_pending = and_(Device.status == DeviceStatus.PENDING, Device.last_seen_at >= utcnow() - PENDING_COUNTS_FOR)
    query = select(func.count()).select_from(Device).where(Device.user_id == user.id,
                                                          or_(Device.status == DeviceStatus.ENROLLED, recently_pending))
    if excluding_device_id is not None:
        query = query.where(Device.id != excluding_device_id)
    return db.session.scalar(query) or 0


def device_limit_reached(user: EndUser, *, excluding_device_id: int | None = None) -> bool:
    """Checked again when a device authenticates: several profiles or tokens fetched before any
    device enrolled must not add up to more devices than the limit.

    The user's row is locked first (``SELECT ... FOR UPDATE``, until the caller's transaction
    ends), so two devices of one user authenticating at once are counted one after the other,
    the second seeing the first's row.
    """
    limit = load_enrollment_settings().max_devices_per_user
    if limit is None:
        return False
    db.session.execute(select(EndUser.id).where(EndUser.id == user.id).with_for_update())
    return active_device_count(user, excluding_device_id=excluding_device_id) >= limit


def check_eligibility(user: EndUser, method: str, settings: EnrollmentSettings | None = None) -> Eligibility:
    """May ``user`` enroll one more device by ``method`` (profile_driven, account_driven, legacy)?"""
    settings = settings or load_enrollment_settings()
    if not getattr(settings, METHOD_SETTING[method]):
        return Eligibility(False, "method_disabled",
                           gettext("Your organisation has turned this way of enrolling off. Ask IT how to enroll your device."))
    _, _, domain = user.managed_apple_id.rpartition("@")
    if not domain or not settings.domain_allowed(domain):
        return Eligibility(False, "domain_not_allowed",
                           gettext("Your account (%(id)s) is not in a domain that may enroll here. Sign in with your work "
                                   "account, or ask IT.", id=user.managed_apple_id))
    if settings.allowed_groups and not set(settings.allowed_groups) & set(user.groups or []):
        return Eligibility(False, "group_not_allowed",
                           gettext("Your account is not in a group that may enroll devices. Ask IT to add you if you need "
                                   "access."))
    limit = settings.max_devices_per_user
    if limit is not None:
        count = active_device_count(user)
        if count >= limit:
            return Eligibility(False, "device_limit_reached",
                               ngettext("You already have %(num)d enrolled device, the most allowed (%(limit)d). Remove "
                                        "the enrollment from a device you no longer use, then try again.",
                                        "You already have %(num)d enrolled devices, the most allowed (%(limit)d). Remove "
                                        "the enrollment from a device you no longer use, then try again.",
                                        count, limit=limit))
    return Eligibility(True)
