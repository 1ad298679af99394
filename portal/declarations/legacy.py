"""Legacy-profile declarations: the library profile a ``com.apple.configuration.legacy`` wraps, served to
the device it is for.

The ``ProfileURL`` a device fetches carries its device id and a key (an HMAC under the app's secret
of the declaration and the device), so only that device's URL opens it, and only while the
declaration is in its set; the profile is signed and filled in for the device as InstallProfile
would send it. The key is the same at every fetch, so the declaration's ServerToken stays that of its
content.
"""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Declaration, DeclarationAssignment, Device, Profile
from ..models.device import DeviceStatus
from ..profiles.delivery import signed_for


def _key(identifier: str, device_id: int) -> str:
    return hmac.new(current_app.secret_key.encode(), f"ddm-legacy\n{identifier}\n{device_id}".encode(),
                    hashlib.sha256).hexdigest()


def device_profile_url(url: str, device_id: int) -> str:
    """The stored ``ProfileURL`` with this device's credential."""
    return f"{url}?device={device_id}&key={_key(url.rsplit('/', 1)[1], device_id)}"


def profile_for(session: Session, identifier: str, device_id: int, key: str) -> bytes | None:
    """The signed profile, or None when the key is not that device's or the declaration is not in its set."""
    if not hmac.compare_digest(key, _key(identifier, device_id)):
        return None
    row = session.execute(select(Profile, Device)
                          .join(Declaration, Declaration.profile_id == Profile.id)
                          .join(DeclarationAssignment, DeclarationAssignment.declaration_id == Declaration.id)
                          .join(Device, Device.id == DeclarationAssignment.device_id)
                          .where(Declaration.identifier == identifier, Device.id == device_id,
                                 Device.status == DeviceStatus.ENROLLED)).first()
    return None if row is None else signed_for(session, *row)
