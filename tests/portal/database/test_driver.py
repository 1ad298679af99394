"""Statements run on the DBAPI cursor behave as SQLAlchemy would run them, inside the session's transaction."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import bindparam, select, update

from portal.extensions import db
from portal.database.driver import DriverStatement
from portal.models import Setting

_settings = Setting.__table__
_SET = DriverStatement(update(_settings).where(_settings.c.key == bindparam("name"))
                       .values(value=bindparam("value"), updated_at=bindparam("now")))
_KEY = DriverStatement(select(_settings.c.key).where(_settings.c.key == bindparam("name"),
                                                     _settings.c.key != "literal-never-a-key"))


def _value(name: str):
    return db.session.scalar(select(Setting.value).where(Setting.key == name))


def test_runs_in_the_sessions_transaction(app):
    with app.app_context():
        db.session.add(Setting(key="greeting", value="hello"))
        db.session.commit()
        connection = db.session.connection()
        assert _SET.first(connection, {"name": "greeting", "value": "bonjour", "now": datetime.now(timezone.utc)}) is None
        assert _value("greeting") == "bonjour"  # the JSON column's own bind processing was applied
        db.session.rollback()
        assert _value("greeting") == "hello"
        assert _KEY.first(db.session.connection(), {"name": "greeting"}) == ("greeting",)
        assert _KEY.first(db.session.connection(), {"name": "absent"}) is None
        db.session.rollback()


def test_applies_the_column_types_bind_processing(app):
    from portal.models import Device

    devices = Device.__table__
    touch = DriverStatement(update(devices).where(devices.c.id == bindparam("id")).values(last_seen_at=bindparam("now")))
    with app.app_context():
        with pytest.raises(ValueError, match="naive datetime"):
            touch.first(db.session.connection(), {"id": 1, "now": datetime(2026, 1, 1)})
        db.session.rollback()
        touch.first(db.session.connection(), {"id": 1, "now": datetime(2026, 1, 1, tzinfo=timezone.utc)})
        db.session.rollback()


def test_refuses_statements_whose_defaults_sqlalchemy_computes(app):
    on_update_default = DriverStatement(update(_settings).values(value=bindparam("value")))  # updated_at: onupdate
    with app.app_context(), pytest.raises(ValueError, match="Python-side column defaults"):
        on_update_default.first(db.session.connection(), {"value": 1})
