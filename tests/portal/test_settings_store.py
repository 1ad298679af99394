"""The one upsert every stored setting goes through (settings_store.set_setting)."""
from portal.extensions import db
from portal.models import Setting
from portal.settings_store import get_setting, set_setting


def test_set_setting_inserts_then_updates_the_one_row(app_ctx):
    set_setting("example_setting", {"a": 1})
    db.session.commit()
    set_setting("example_setting", [2])
    db.session.commit()
    assert db.session.scalars(db.select(Setting).where(Setting.key == "example_setting")).all()[0].value == [2]
    assert db.session.scalar(db.select(db.func.count()).select_from(Setting)) == 1


def test_a_setting_set_to_none_reads_as_the_default(app_ctx):
    set_setting("example_setting", 5)
    set_setting("example_setting", None)
    db.session.commit()
    assert get_setting("example_setting", "default") == "default"
