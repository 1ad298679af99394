"""What devices reported, as the admin pages and the API both show it: a command's answer, and
whether an enrolled device has stopped checking in."""
from __future__ import annotations

from datetime import datetime, timedelta

from mdm_core import plist
from mdm_core.commands import MAX_REPORT_BYTES

from .models import Command, Device
from .models.base import utcnow
from .models.device import DeviceStatus

#: Keys of every report that say who answered which command, not what the answer is.
ENVELOPE_KEYS = ("UDID", "EnrollmentID", "CommandUUID", "Status")


def command_result(command: Command) -> dict | None:
    """The stored (already sanitised) report without its envelope keys, or None before the device answered. A
    result stored before ``mdm_core.results.stored_result`` bounded it may be too large to read: it says so."""
    if not command.result:
        return None
    try:
        result = plist.loads(command.result, max_bytes=MAX_REPORT_BYTES)
    except plist.PlistError as exc:
        return {"NotKept": f"the stored answer cannot be shown: {exc}"}
    return {k: v for k, v in result.items() if k not in ENVELOPE_KEYS}


def is_stale(device: Device, stale_after: timedelta, now: datetime | None = None) -> bool:
    """An enrolled device that has not checked in for ``stale_after`` is flagged."""
    return (device.status == DeviceStatus.ENROLLED and device.last_seen_at is not None
            and device.last_seen_at < (now or utcnow()) - stale_after)
