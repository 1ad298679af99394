"""An install the phone accepted stays unconfirmed (``installing``) until a ManagedApplicationList says the app is
managed: a configuration sent meanwhile, even one that failed and was tried again, confirms nothing; and a list asked
for some apps says nothing of the others, whatever happened to the rows meanwhile."""
import plistlib
from datetime import timedelta

from sqlalchemy import insert, select

from mdm_core import plist, queue
from portal.apps import results
from portal.apps.delivery import deliver, verify
from portal.extensions import db
from portal.models import App, AppState, Command
from portal.models.base import utcnow

PUSHABLE = {"push_token": "ab" * 32, "push_magic": "magic"}
BUNDLE = "com.example.fieldnotes"


def _row():
    return db.session.scalar(select(AppState))


def test_a_refused_settings_during_an_install_does_not_let_the_retry_confirm_the_install(app, seed):
    with app.app_context():
        [device_id] = seed(1, **PUSHABLE)
        item = App(source="manifest", manifest_url="https://apps.example.org/field-notes.plist", bundle_id=BUNDLE,
                   name="Field Notes", configuration=plist.dumps({"v": 2}))
        db.session.add(item)
        db.session.flush()
        # the install was accepted (Prompting), then a new configuration was marked to send: installing, no command
        db.session.execute(insert(AppState).values(app_id=item.id, device_id=device_id, operation="install",
                                                   status="installing", identifier=BUNDLE, attempts=0,
                                                   updated_at=utcnow()))
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
        apps = [App(source="manifest", manifest_url=f"https://apps.example.org/{n}.plist", bundle_id=f"com.example.{n}",
                    name=n) for n in ("mail", "notes")]
        db.session.add_all(apps)
        db.session.flush()
        now = utcnow()
        rows = {"mail": dict(status="installed"), "notes": dict(status="installing", last_command_uuid="answered")}
        for item in apps:
            db.session.execute(insert(AppState).values(app_id=item.id, device_id=device_id, operation="install",
                                                       identifier=item.bundle_id, attempts=0,
                                                       updated_at=now - timedelta(minutes=1), **rows[item.name]))
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
