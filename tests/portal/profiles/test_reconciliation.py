"""Reconciliation is set-based: a scope change costs the same statements for ten devices or hundreds."""
from contextlib import contextmanager

from sqlalchemy import event, func, select

from portal.extensions import db
from portal.models import Device, Profile, ProfileState
from portal.profiles.desired import ITEM_TYPE, reconcile
from portal.profiles.service import preview_scope
from portal.scope.targets import Scope, Targets, save_scope
from portal.scope.versions import os_version_key, version_key
from tests.helpers import PROFILE_CORPUS as CORPUS


@contextmanager
def counted_statements():
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _change_scope(profile_id, scope):
    """Preview, save and reconcile a scope change (delivery aside); returns the statements it ran."""
    profile = db.session.get(Profile, profile_id)
    with counted_statements() as statements:
        preview_scope(db.session, profile, scope)
        save_scope(db.session, ITEM_TYPE, profile_id, scope)
        reconcile(db.session, profile_ids=[profile_id])
        db.session.flush()
    db.session.commit()
    return len(statements)


def _states(profile_id):
    return dict(db.session.execute(select(ProfileState.status, func.count()).where(
        ProfileState.profile_id == profile_id).group_by(ProfileState.status)).all())


def test_a_scope_change_runs_as_many_statements_for_ten_devices_as_for_two_hundred(app, seed, api, upload):
    profile_id = upload("wifi-wpa2")
    smart = api("POST", "/smart-groups", json={"name": "17", "criteria": {"os_version_min": "17.0"}}).get_json()["id"]
    wide = Scope(all_user_enrolled=True, exclude=Targets(users=("user0@example.org",)))
    narrow = Scope(include=Targets(groups=("sales",), users=("user1@example.org",), smart_groups=(smart,)),
                   exclude=Targets(smart_groups=(smart,)))
    counts = []
    for devices in (10, 200):
        with app.app_context():
            db.session.execute(ProfileState.__table__.delete())
            db.session.execute(Device.__table__.delete())
            db.session.commit()
        seed(devices)
        with app.app_context():
            counts.append((_change_scope(profile_id, wide), _change_scope(profile_id, narrow)))
            assert _states(profile_id) == {"removed": devices - 1}, "nothing was delivered: removed without a command"
            _change_scope(profile_id, wide)
            assert _states(profile_id) == {"pending": devices - 1}
    assert counts[0] == counts[1]
    assert max(counts[0]) <= 20


def test_os_versions_compare_as_numbers_in_sql(app, seed):
    versions = ["17.10", "17.9", "17.9.1", "16", "9.3.5", None, "18.0 beta"]
    ids = [seed(1, os_version=version)[0] for version in versions]
    with app.app_context():
        keys = dict(db.session.execute(select(Device.id, os_version_key(Device.os_version))
                                       .where(Device.id.in_(ids))).all())
    assert [keys[i] for i in ids] == [17_010_000, 17_009_000, 17_009_001, 16_000_000, 9_003_005, None, 18_000_000]
    assert version_key("17.9.1") == 17_009_001 and version_key("16") == 16_000_000


def test_the_periodic_pass_follows_smart_groups_as_inventory_changes(app, seed, api, upload):
    from portal.profiles.triggers import reconcile_and_deliver

    old, new = seed(1, os_version="16.7"), seed(1, os_version="17.5")
    smart = api("POST", "/smart-groups", json={"name": "17+", "criteria": {"os_version_min": "17"}}).get_json()["id"]
    profile_id = upload("wifi-wpa2")
    assert api("PUT", f"/profiles/{profile_id}/scope", json={"smart_groups": [smart]}).get_json() == {
        "devices_added": 1, "devices_removed": 0}
    with app.app_context():
        db.session.get(Device, old[0]).os_version = "17.1"  # an inventory answer updated it
        db.session.get(Device, new[0]).os_version = "16.0"
        db.session.commit()
        reconcile_and_deliver(db.session)
        rows = {s.device_id: (s.operation, s.status) for s in db.session.scalars(select(ProfileState))}
    # the seeded devices have no push token, yet commands queue (they are delivered when the device connects)
    assert rows == {old[0]: ("install", "pending"), new[0]: ("remove", "removing")}


def test_a_hostile_os_version_cannot_break_a_version_range(app, seed, api):
    seed(1, os_version="9999999999999.99999999999.999999999999")  # near the column's 40 characters
    seed(1, os_version="17.5")
    response = api("POST", "/smart-groups", json={"name": "17", "criteria": {"os_version_min": "17", "os_version_max": "17.99"}})
    assert response.status_code == 201 and response.get_json()["devices"] == 1


def test_an_enrollment_reads_smart_groups_once_however_many_profiles_name_them(app, seed, api, upload):
    """The criteria of every smart group the scopes name come in one query, not one per profile."""
    wifi = (CORPUS / "wifi-wpa2.mobileconfig").read_bytes()
    device = seed(1)[0]
    counts = []
    for profiles in (1, 5):
        ids = [upload(wifi.replace(b"com.example.wifi.guest", f"com.example.wifi.n{len(counts)}x{n}".encode()))
               for n in range(profiles)]
        for n, profile_id in enumerate(ids):
            smart = api("POST", "/smart-groups", json={"name": f"s{len(counts)}x{n}",
                                                       "criteria": {"os_version_min": "17.0"}}).get_json()["id"]
            assert api("PUT", f"/profiles/{profile_id}/scope", json={"smart_groups": [smart]}).status_code == 200
        with app.app_context():
            with counted_statements() as statements:
                reconcile(db.session, device_ids=[device])
            db.session.commit()
            counts.append(len(statements))
    assert counts[0] == counts[1]
