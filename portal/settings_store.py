"""Read settings kept in the database, with their defaults."""
from __future__ import annotations

from typing import Any

from .extensions import db
from .models import Setting

DEFAULT_ORGANIZATION = "BYOD MDM"


def get_setting(key: str, default: Any = None) -> Any:
    row = db.session.get(Setting, key)
    return default if row is None or row.value is None else row.value


def organization_name() -> str:
    return get_setting("organization_name") or DEFAULT_ORGANIZATION
