"""Column types shared by every model."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, Index, TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store UTC-aware datetimes")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def trigram_indexes(table: str, columns: tuple[str, ...]) -> tuple[Index, ...]:
    """Substring-search indexes: GIN trigram on PostgreSQL (pg_trgm), plain indexes elsewhere."""
    return tuple(Index(f"ix_{table}_trgm_{column}", column, postgresql_using="gin",
                       postgresql_ops={column: "gin_trgm_ops"}) for column in columns)
