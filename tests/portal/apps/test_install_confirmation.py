"""An install the phone accepted stays unconfirmed (``installing``) until a ManagedApplicationList says the app is
managed: a configuration sent meanwhile, even one that failed and was tried again, confirms nothing; and a list asked
for some apps says nothing of the others, whatever happened to the rows meanwhile."""
import plistlib
from datetime import timedelta

from sqlalchemy import event, insert, select

from mdm_core import plist, queue
from portal.apps import results
from portal.apps.delivery import deliver, verify
from portal.apps.desired import ITEM_TYPE, reconcile
from portal.extensions import db
from portal.models import App, AppState, Command
from portal.models.base import utcnow
from portal.scope.targets import Scope, save_scope

PUSHABLE = {"push_token": "ab" * 32, "push_magic": "magic"}
BUNDLE = "com.example.fieldnotes"


def _on_device(device_id, state, bundle_id=BUNDLE, **app):
    """An in-house app and its row on the device (``state``: the row's columns, an install by default)."""
    item = App(source="manifest", manifest_url=f"https://apps.example.org/{bundle_id}.plist", bundle_id=bundle_id,
               name=bundle_id.rsplit(".", 1)[-1], **app)
    db.session.add(item)
    db.session.flush()
    db.session.execute(insert(AppState).values(app_id=item.id, device_id=device_id, operation="install",
                                               identifier=bundle_id, attempts=0, **{"updated_at": utcnow(), **state}))
    return item


def _row():
    db.session.expire_all()
    return db.session.scalar(select(AppState))


def test_a_refused_settings_during_an_install_does_not_let_the_retry_confirm_the_install(app, seed):
    with app.app_context():
        [device_id] = seed(1, **PUSHABLE)
        # the install was accepted (Prompting), then a new configuration was marked to send: installing, no command
        _on_device(device_id, {"status": "installing"}, configuration=plist.dumps({"v": 2}))
        db.session.commit()
        now = utcnow()
        assert deliver(db.session, now=now) == 1
        db.session.commit()
        settings = _row().last_command_uuid
        assert db.session.scalar(select(Command.request_type).where(Command.command_uuid == settings)) == "Settings"
        assert _row().status == "installing"
        # the phone refuses the configuration: the app is not yet managed there (12029)
        chain = [{"ErrorDomain": "MCMDMErrorDomain", "ErrorCode": 12029, "LocalizedDescription": "not managed"}]
        results.record(db.session.connection(), device_id, "Settings", settings, queue.ACKNOWLEDGED, None,
                       {"Settings": [{"Status": "Error", "Identifier": BUNDLE, "ErrorChain": chain}]}, now)
        db.session.commit()
        db.session.expire_all()
        failed = _row()
        assert (failed.status, failed.last_command_uuid, failed.attempts) == ("installing", None, 1), \
            "the configuration failed; the install is still unconfirmed"
        assert "not managed" in failed.error and failed.next_attempt_at > now
        assert deliver(db.session, now=now) == 0, "tried again at its retry time, not at once"
        # retried later; this time the phone takes the configuration (still Installing: no list said Managed)
        later = now + timedelta(hours=2)
        assert deliver(db.session, now=later) == 1
        db.session.commit()
        retry = _row().last_command_uuid
        results.record(db.session.connection(), device_id, "Settings", retry, queue.ACKNOWLEDGED, None,
                       {"Settings": [{"Status": "Acknowledged", "Identifier": BUNDLE}]}, later)
        db.session.commit()
        db.session.expire_all()
        assert _row().status == "installing", "no ManagedApplicationList confirmed the install"


def test_a_filtered_list_answered_after_its_row_was_marked_again_does_not_reinstall_the_other_apps(app, seed):
    with app.app_context():
        [device_id] = seed(1, **PUSHABLE)
        now = utcnow()
        rows = {"mail": dict(status="installed"), "notes": dict(status="installing", last_command_uuid="answered")}
        apps = [_on_device(device_id, {"updated_at": now - timedelta(minutes=1), **rows[name]}, f"com.example.{name}")
                for name in ("mail", "notes")]
        db.session.commit()
        assert verify(db.session, now=now) == 1  # the worker asks for notes only
        db.session.commit()
        listed = db.session.scalar(select(Command).where(Command.request_type == "ManagedApplicationList"))
        assert plistlib.loads(listed.payload)["Command"]["Identifiers"] == ["com.example.notes"]
        # before the phone answers, a new configuration of notes is marked (reconcile: installing, no command)
        db.session.execute(AppState.__table__.update().where(AppState.app_id == apps[1].id)
                           .values(last_command_uuid=None))
        db.session.commit()
        results.record(db.session.connection(), device_id, "ManagedApplicationList", listed.command_uuid, queue.ACKNOWLEDGED,
                       None, {"ManagedApplicationList": {"com.example.notes": {"Status": "Installing"}}}, now)
        db.session.commit()
        mail = db.session.scalar(select(AppState).where(AppState.app_id == apps[0].id))
        assert (mail.status, mail.identifier) == ("installed", "com.example.mail"), \
            "a list filtered to notes says nothing of mail"


def test_a_configuration_failing_before_it_is_sent_keeps_its_backoff_across_reconciliations(app, seed):
    with app.app_context():
        [device_id] = seed(1, **PUSHABLE)
        # $FULL_NAME has no value for this device: filling the configuration in fails (VariableError); the install
        # was accepted, a new configuration marked to send (revision r1 sent with the install)
        item = _on_device(device_id, {"status": "installing", "configuration_revision": "r1"},
                          configuration=plist.dumps({"who": "$FULL_NAME"}), configuration_revision="r2")
        save_scope(db.session, ITEM_TYPE, item.id, Scope(all_user_enrolled=True))
        db.session.commit()
        now = utcnow()
        for minute in range(5):  # the worker's pass: reconcile every app, then deliver what is due
            at = now + timedelta(minutes=minute)
            reconcile(db.session, now=at)
            deliver(db.session, now=at)
            db.session.commit()
        row = _row()
        assert row.status == "installing" and "FULL_NAME" in (row.error or "")
        assert row.attempts >= 3, (f"attempts={row.attempts}, next_attempt_at-now={row.next_attempt_at - at}: "
                                   "each reconciliation reset the failed row (RESET), so it is retried at every pass")


def test_a_list_that_shows_every_installed_app_reads_no_command(app, seed):
    """Whether a list was asked for some apps only is read from its command when it matters: an app missing."""
    with app.app_context():
        [device_id] = seed(1, **PUSHABLE)
        _on_device(device_id, {"status": "installed"})
        db.session.commit()
        seen = []
        connection = db.session.connection()
        event.listen(connection, "before_cursor_execute", lambda *a: seen.append(a[2]))
        results.record(connection, device_id, "ManagedApplicationList", "nope", queue.ACKNOWLEDGED, None,
                       {"ManagedApplicationList": {BUNDLE: {"Status": "Managed"}}}, utcnow())
        assert not [s for s in seen if "FROM commands" in s], seen
