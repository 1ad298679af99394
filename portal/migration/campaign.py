"""The campaign's schedule: the grace period between the notice and the automatic un-enrollment, and
the reminders to people who have not re-enrolled (days after their notice was delivered)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from ..settings_store import get_setting, set_setting

KEY = "migration.campaign"
DAY_LIMITS = (1, 365)
MAX_REMINDERS = 5


@dataclass(frozen=True)
class CampaignSettings:
    #: days after the notice was delivered until the un-enrollment is sent by the worker; None: never automatic
    grace_days: int | None = None
    #: a reminder this many days after the notice was delivered, each at most once per device
    reminder_days: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _days(name: str, value: Any) -> int:
    low, high = DAY_LIMITS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number of days from {low} to {high}")
    return value


def validate(changes: Mapping[str, Any], current: CampaignSettings | None = None) -> CampaignSettings:
    """A partial update over ``current``; ValueError names the bad field."""
    values = (current or CampaignSettings()).to_json()
    for name, value in changes.items():
        if name == "grace_days":
            values[name] = None if value is None else _days(name, value)
        elif name == "reminder_days":
            if not isinstance(value, list) or len(value) > MAX_REMINDERS:
                raise ValueError(f"reminder_days must be a list of at most {MAX_REMINDERS} numbers of days")
            values[name] = sorted({_days(name, day) for day in value})
        else:
            raise ValueError(f"{str(name)[:40]}: unknown setting (grace_days, reminder_days)")
    return CampaignSettings(**values)


def load() -> CampaignSettings:
    try:
        return validate(get_setting(KEY) or {})
    except ValueError:
        return CampaignSettings()


def save(settings: CampaignSettings) -> None:
    """Store; the caller audits and commits."""
    set_setting(KEY, settings.to_json())
