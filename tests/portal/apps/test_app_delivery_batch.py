"""App delivery is set-based like the profiles': a batch's commands and their pushes are written in a
constant number of statements, however many devices it holds."""
from sqlalchemy import func, insert, select

from portal.apps.delivery import deliver, verify
from portal.extensions import db
from portal.models import App, AppState, Command, PushOutbox
from portal.models.base import utcnow
from tests.portal.profiles.test_reconciliation import counted_statements

PUSHABLE = {"push_token": "ab" * 32, "push_magic": "magic"}


def _in_house_app(device_ids, **state):
    app = App(source="manifest", manifest_url="https://apps.example.org/field-notes.plist",
              bundle_id="com.example.fieldnotes", name="Field Notes")
    db.session.add(app)
    db.session.flush()
    now = utcnow()
    db.session.execute(insert(AppState), [
        {"app_id": app.id, "device_id": device_id, "operation": "install", "status": "pending", "attempts": 0,
         "updated_at": now, **state} for device_id in device_ids])
    db.session.commit()
    return app.id


def _statements(run):
    with counted_statements() as statements:
        run()
        db.session.commit()
    return len(statements)


def test_delivery_writes_a_batch_in_a_constant_number_of_statements(app, seed):
    with app.app_context():
        few, many = _in_house_app(seed(2, **PUSHABLE)), _in_house_app(seed(20, **PUSHABLE))
        assert _statements(lambda: deliver(db.session, app_ids=[few])) \
            == _statements(lambda: deliver(db.session, app_ids=[many]))
        assert db.session.scalar(select(func.count()).select_from(Command)) == 22
        assert db.session.scalar(select(func.count()).select_from(PushOutbox)) == 22
        commands = set(db.session.scalars(select(Command.command_uuid)))
        assert set(db.session.scalars(select(AppState.last_command_uuid))) == commands


def test_verification_asks_each_device_once_in_a_constant_number_of_statements(app, seed):
    under_way = {"status": "installing", "identifier": "com.example.fieldnotes", "last_command_uuid": "answered"}
    with app.app_context():
        few, many = seed(2, **PUSHABLE), seed(20, **PUSHABLE)
        _in_house_app(few, **under_way)
        _in_house_app(many, **under_way)
        later = utcnow().replace(year=utcnow().year + 1)
        assert _statements(lambda: verify(db.session, limit=2, now=later)) \
            == _statements(lambda: verify(db.session, limit=20, now=later))
        assert db.session.scalar(select(func.count()).select_from(Command)
                                 .where(Command.request_type == "ManagedApplicationList")) == 22


def test_a_configuration_without_variables_is_not_filled_in_device_by_device(app, seed, monkeypatch):
    import plistlib

    from portal.apps import delivery
    from portal.apps.configuration import stored

    filled = []
    monkeypatch.setattr(delivery, "for_device", lambda configuration, values: filled.append(values) or configuration)
    with app.app_context():
        plain, escaped = _in_house_app(seed(3)), _in_house_app(seed(2))
        for app_id, configuration in ((plain, {"level": 3}), (escaped, {"price": "$$5"})):
            db.session.get(App, app_id).configuration, _ = stored(configuration)
        db.session.commit()
        deliver(db.session)
        db.session.commit()
        assert len(filled) == 2, "only the configuration with a $ (here an escape) is filled per device"
        configurations = [plistlib.loads(payload)["Command"]["Configuration"]
                          for payload in db.session.scalars(select(Command.payload))]
        assert configurations.count({"level": 3}) == 3


def test_checking_installs_asks_each_device_once_however_long_the_run_takes(app, seed, monkeypatch):
    """Each batch of the run taking longer than VERIFY_EVERY must not make the first devices due again."""
    from datetime import timedelta

    from portal.apps import delivery

    start = utcnow()
    clock = iter(start + delivery.VERIFY_EVERY * 2 * step for step in range(1, 1000))
    monkeypatch.setattr(delivery, "utcnow", lambda: next(clock))
    monkeypatch.setattr(delivery, "BATCH", 2)
    monkeypatch.setattr(delivery, "verify", lambda session, now=None: verify(session, limit=2, now=now))
    with app.app_context():
        devices = seed(5, **PUSHABLE)
        _in_house_app(devices, status="installing", identifier="com.example.fieldnotes", last_command_uuid="answered",
                      updated_at=start - timedelta(minutes=1))
        assert delivery.deliver_all(db.session) == 5
        asked = db.session.scalars(select(Command.device_id).where(Command.request_type == "ManagedApplicationList"))
        assert sorted(asked) == sorted(devices)


def test_a_device_that_has_not_answered_its_app_list_is_not_asked_again(app, seed):
    from portal.apps.delivery import VERIFY_EVERY

    with app.app_context():
        devices = seed(3, **PUSHABLE)
        _in_house_app(devices, status="installing", identifier="com.example.fieldnotes", last_command_uuid="answered")
        lists = select(func.count()).select_from(Command).where(Command.request_type == "ManagedApplicationList")
        now = utcnow() + VERIFY_EVERY * 2
        assert verify(db.session, now=now) == 3
        db.session.commit()
        for later in (now + VERIFY_EVERY * 2, now + VERIFY_EVERY * 20):
            assert verify(db.session, now=later) == 0, "their lists are still queued"
            db.session.commit()
        assert db.session.scalar(lists) == 3
        db.session.execute(Command.__table__.update().where(Command.device_id == devices[0])
                           .values(status="acknowledged"))
        db.session.commit()
        assert verify(db.session, now=now + VERIFY_EVERY * 30) == 1, "an answered one is asked again if still installing"
        assert db.session.scalar(lists) == 4
