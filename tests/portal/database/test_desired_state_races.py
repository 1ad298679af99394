"""A reconciliation (the worker's pass) and a scope change racing on PostgreSQL, for every kind of desired
state: the one that reads the scopes second sees what the first wrote, so neither undoes the other
(``portal.database.locks``)."""
import threading
import time

import pytest
from sqlalchemy import func, select, text

from portal.apps import desired as app_sets
from portal.declarations import desired as declaration_sets
from portal.extensions import db
from portal.models import AppState, DeclarationAssignment, ProfileState
from portal.profiles import desired as profile_sets
from tests.helpers import PROFILE_CORPUS

pytestmark = pytest.mark.postgres_only("SQLite runs one writer at a time")


def _declaration(api):
    created = api("POST", "/declarations", json={"type": "com.apple.configuration.passcode.settings",
                                                  "payload": {"MinimumLength": 6}}).get_json()
    return f"/declarations/{created['id']}", select(func.count()).select_from(DeclarationAssignment)


def _profile(api):
    created = api("POST", "/profiles", data=(PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()
    return f"/profiles/{created['id']}", select(func.count()).where(ProfileState.operation == "install")


def _app(api):
    created = api("POST", "/apps", json={"manifest_url": "https://apps.example.org/tool.plist"}).get_json()
    return f"/apps/{created['id']}", select(func.count()).where(AppState.operation == "install")


KINDS = {"declaration": (declaration_sets, _declaration), "profile": (profile_sets, _profile), "app": (app_sets, _app)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("widen", [True, False], ids=["widened", "narrowed"])
def test_a_scope_change_during_a_reconciliation_is_not_undone_by_it(app, api, enroll, monkeypatch, kind, widen):
    module, make = KINDS[kind]
    enroll("user")
    path, installs = make(api)
    if not widen:
        assert api("PUT", f"{path}/scope", json={"all_user_enrolled": True}).status_code == 200
    read_scopes, admin = module.load_scopes, {}

    def counted() -> int:
        with app.app_context():
            return db.session.scalar(installs)

    def change_scope():
        admin["status"] = api("PUT", f"{path}/scope", json={"all_user_enrolled": True} if widen else {}).status_code

    def waiting_for_the_lock() -> bool:
        with db.engine.connect() as other:
            return bool(other.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")))

    def racing(session, item_type, *args, **kwargs):
        scopes = read_scopes(session, item_type, *args, **kwargs)  # the worker has read the scopes...
        if "thread" not in admin:  # ...when an admin changes one
            admin["thread"] = threading.Thread(target=change_scope)
            admin["thread"].start()
            deadline = time.monotonic() + 10
            while admin["thread"].is_alive() and not waiting_for_the_lock() and time.monotonic() < deadline:
                time.sleep(0.02)
        return scopes

    assert counted() == (0 if widen else 1)
    monkeypatch.setattr(module, "load_scopes", racing)
    with app.app_context():
        module.reconcile(db.session)  # the worker's pass
        db.session.commit()
    admin["thread"].join(30)
    assert admin["status"] == 200
    assert counted() == (1 if widen else 0), "the worker's pass undid the admin's scope change"
