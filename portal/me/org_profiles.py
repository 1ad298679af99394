"""The organisation's profiles on an employee's devices (installed, or on their way, from the desired
state), each with the plain sentences of what it does, filled with the person's own values."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import undefer

from mdm_core import mobileconfig
from mdm_core.profile_variables import VariableError, device_values, substitute

from ..extensions import db
from ..models import Device, EndUser, Profile, ProfileState
from ..models.profile import INSTALL, ProfileStatus
from .profile_sentences import describe

SHOWN = (ProfileStatus.INSTALLED, ProfileStatus.PENDING, ProfileStatus.FAILED)


@dataclass(frozen=True)
class OrgProfile:
    name: str
    installed: bool
    sentences: list[str]


def org_profiles(end_user: EndUser, devices: list[Device]) -> dict[int, list[OrgProfile]]:
    """Per device id, the profiles the server installs there, by name."""
    by_id = {device.id: device for device in devices}
    if not by_id:
        return {}
    rows = db.session.execute(
        select(ProfileState.device_id, ProfileState.status, Profile)
        .join(Profile, Profile.id == ProfileState.profile_id)
        .where(ProfileState.device_id.in_(by_id), ProfileState.operation == INSTALL, ProfileState.status.in_(SHOWN),
               Profile.deleted_at.is_(None))
        .order_by(Profile.name).options(undefer(Profile.content))).all()  # content is deferred: not a load per profile
    contents: dict[int, dict] = {}
    shown: dict[int, list[OrgProfile]] = {}
    for device_id, status, profile in rows:
        if profile.id not in contents:
            contents[profile.id] = mobileconfig.decode(profile.content).profile
        device = by_id[device_id]
        try:
            content = substitute(contents[profile.id], device_values(
                managed_apple_id=device.managed_apple_id, email=end_user.email, full_name=end_user.name,
                enrollment_id=device.enrollment_id))
        except VariableError:
            content = contents[profile.id]  # the sentences leave unfilled values out
        shown.setdefault(device_id, []).append(OrgProfile(profile.name, status == ProfileStatus.INSTALLED,
                                                          describe(content, device.enrollment_type == "user")))
    return shown
