"""Two un-enrollments of one legacy device at once (a double-click, two admins, the API beside the campaign's worker),
on PostgreSQL: the second waits for the first to commit and is refused, so exactly one RemoveProfile is queued; and
a notice beside an un-enrollment.

Both used to check the device before either wrote: each queued a RemoveProfile (the migration row kept the second,
the first went untracked), or, for a device never notified, the second failed with a 500 inserting the same
migration row."""
import threading

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.migration import actions
from portal.models import Command, Device, LegacyMigration
from tests.helpers import until_waiting

pytestmark = pytest.mark.postgres_only("SQLite runs one writer at a time")


def _unenrollment(app, api_token, device_id: int, answers: dict[str, object]):
    """``post(name)``: the API's un-enrollment of the device, its answer (or its error) kept as ``answers[name]``."""
    token = api_token("migration", scopes=("read", "migration"))

    def post(name: str) -> None:
        try:
            answers[name] = app.test_client().post("/api/v1/migration/unenroll", json={"device_ids": [device_id]},
                                                   headers={"Authorization": f"Bearer {token}"}).status_code
        except Exception as exc:  # noqa: BLE001 (any failure is the finding)
            answers[name] = repr(exc)

    return post


def _when_rows_are_read_run(app, second: threading.Thread, monkeypatch) -> None:
    """Once the next caller has read the migration rows, ``second`` runs until it waits for a lock (or ends)."""
    read_rows = actions._rows

    def read_then_second_runs(device_ids: list[int]):
        rows = read_rows(device_ids)
        monkeypatch.setattr(actions, "_rows", read_rows)
        second.start()
        until_waiting(app, second)
        return rows

    monkeypatch.setattr(actions, "_rows", read_then_second_runs)


def _unenroll_twice_at_once(app, api_token, device_id: int, monkeypatch) -> dict:
    """The first request reads the device, then the second runs until it waits for a lock (or ends), then the first
    goes on. Returns each request's answer, once the device's only RemoveProfile is the one its migration tracks."""
    answers: dict[str, object] = {}
    post = _unenrollment(app, api_token, device_id, answers)
    second = threading.Thread(target=post, args=("second",))
    _when_rows_are_read_run(app, second, monkeypatch)
    post("first")
    second.join(30)
    with app.app_context():
        removals = db.session.scalars(select(Command.id).where(
            Command.device_id == device_id, Command.request_type == "RemoveProfile")).all()
        tracked = db.session.scalar(select(LegacyMigration.unenroll_command_id)
                                    .where(LegacyMigration.device_id == device_id))
    assert removals == [tracked], (answers, removals, tracked)
    return answers


def _legacy(app, enroll) -> int:
    phone = enroll("device", "dana@example.org")
    with app.app_context():
        return db.session.scalar(select(Device.id).where(Device.udid == phone.identifier))


def test_two_unenrollments_of_a_notified_device_at_once_queue_one_remove_profile(app, enroll, api_token, monkeypatch):
    device_id = _legacy(app, enroll)
    with app.app_context():
        assert actions.mark_notified([device_id], actor="admin@example.org") == 1  # its migration row exists
    answers = _unenroll_twice_at_once(app, api_token, device_id, monkeypatch)
    assert answers == {"first": 202, "second": 422}


def test_two_unenrollments_of_a_device_never_notified_at_once_refuse_the_second_without_a_500(
        app, enroll, api_token, monkeypatch):
    device_id = _legacy(app, enroll)
    answers = _unenroll_twice_at_once(app, api_token, device_id, monkeypatch)
    assert answers == {"first": 202, "second": 422}


def test_a_notice_beside_an_unenrollment_of_a_device_never_notified_waits_and_neither_fails(
        app, enroll, api_token, monkeypatch):
    """The notice read the device, the un-enrollment inserted its migration row and committed, and the notice's
    insert of the same row then failed (a 500 on the admin's action, an error in the campaign's job)."""
    device_id = _legacy(app, enroll)
    answers: dict[str, object] = {}
    second = threading.Thread(target=_unenrollment(app, api_token, device_id, answers), args=("unenroll",))
    _when_rows_are_read_run(app, second, monkeypatch)
    with app.app_context():
        assert actions.mark_notified([device_id], actor="admin@example.org") == 1
    second.join(30)
    assert answers == {"unenroll": 202}
    with app.app_context():
        migration = db.session.get(LegacyMigration, device_id)
        assert migration.notified_at is not None and migration.unenroll_command_id is not None
