"""The push worker settling a delivery beside a commit recording pushes, on PostgreSQL: both take the rows in the
same order (dead tokens' devices, then push rows in device order), so one waits for the other and neither fails."""
import datetime as dt
import threading

import pytest
from sqlalchemy import select, text, update

from portal import remote_commands
from portal.extensions import db
from portal.models import Device, PushOutbox
from portal.models.base import utcnow
from tests.helpers import recorded, until_waiting

pytestmark = pytest.mark.postgres_only("SQLite runs one writer at a time")


def _claimed_later_device_first(app, http_api, enroll, worker, apns_standin, dead=()):
    """Two devices with a push each, the later device's due first (``dead``: those of ``"first"`` and ``"second"``
    whose token APNs no longer knows): their ids, the claim, in due order, and APNs' answers."""
    for i in range(2):
        enroll("user", f"user{i}@example.org")
    with app.app_context():
        devices = dict(zip(("first", "second"), sorted(db.session.scalars(select(Device.id)))))
        tokens = dict(db.session.execute(select(Device.id, Device.push_token)).all())
    for name in dead:
        apns_standin.unregister(tokens[devices[name]])  # stored as hex, as the stand-in names it
    for device_id in devices.values():
        assert http_api("POST", f"/devices/{device_id}/commands", json={"request_type": "ProfileList"}).status_code == 201
    with app.app_context():
        for device_id, ago in ((devices["first"], 1), (devices["second"], 2)):
            db.session.execute(update(PushOutbox).where(PushOutbox.device_id == device_id)
                               .values(next_attempt_at=utcnow() - dt.timedelta(seconds=ago)))
        db.session.commit()
        claimed = worker._claim()
        assert [item.device_id for item in claimed] == [devices["second"], devices["first"]]
        results = worker._sender().send_many([item.push for item in claimed])
    return (devices["first"], devices["second"]), claimed, results


def _race(app, worker, claimed, results, first_writes, then_writes) -> dict:
    """A transaction runs ``first_writes``, the worker settles (and waits for it), then it runs ``then_writes`` and
    commits; returns how each ended."""
    outcome, holding, go_on = {}, threading.Event(), threading.Event()

    def recording() -> None:
        def work() -> None:
            first_writes()
            holding.set()
            go_on.wait(10)
            then_writes()
        with app.app_context():
            recorded(outcome, "recording", work)
        holding.set()

    def settling() -> None:
        holding.wait(10)
        with app.app_context():
            recorded(outcome, "settling", lambda: worker._settle(claimed, results))

    threads = [threading.Thread(target=recording), threading.Thread(target=settling)]
    threads[0].start()
    holding.wait(10)
    threads[1].start()
    until_waiting(app, threads[1])
    go_on.set()
    for thread in threads:
        thread.join(30)
    return outcome


def _bump(device_id: int) -> None:
    """What recording a push does to a pending push row: the upsert moves its generation on."""
    db.session.execute(text("UPDATE push_outbox SET generation = generation + 1 WHERE device_id = :device"),
                       {"device": device_id})


def test_a_delivery_settling_beside_a_commit_recording_pushes_waits_and_neither_fails(
        app, push_cert, enroll, http_api, worker, apns_standin):
    (first, second), claimed, results = _claimed_later_device_first(app, http_api, enroll, worker, apns_standin)
    # the commit records both devices' pushes, in device order (portal.push.outbox)
    outcome = _race(app, worker, claimed, results, lambda: _bump(first), lambda: _bump(second))
    assert outcome == {"recording": "done", "settling": "done"}
    with app.app_context():
        pending = db.session.execute(select(PushOutbox.device_id, PushOutbox.claimed_until)).all()
    assert sorted(pending) == [(first, None), (second, None)], "both newer requests are due again, none lost"


def test_a_dead_token_settling_beside_a_commit_on_that_device_waits_and_neither_fails(
        app, push_cert, enroll, http_api, worker, apns_standin):
    (first, second), claimed, results = _claimed_later_device_first(app, http_api, enroll, worker, apns_standin,
                                                                    dead=("first",))

    def touch_first_device() -> None:  # a check-in from the device whose token died: its row first
        db.session.execute(update(Device).where(Device.id == first).values(last_seen_at=utcnow()))

    # then the push rows, last, as a commit recording pushes writes them
    outcome = _race(app, worker, claimed, results, touch_first_device, lambda: _bump(second))
    assert outcome == {"recording": "done", "settling": "done"}
    with app.app_context():
        assert db.session.get(Device, first).push_token_dead_at is not None


def test_dead_tokens_settling_beside_commands_queued_for_those_devices_wait_for_nothing(
        app, push_cert, enroll, http_api, worker, apns_standin):
    (first, second), claimed, results = _claimed_later_device_first(app, http_api, enroll, worker, apns_standin,
                                                                    dead=("first", "second"))

    def queue(device_id):
        """A command for the device, in a bulk send's order (not the devices'): its row's foreign key check takes
        the device row FOR KEY SHARE, which marking the token dead must not wait for."""
        def work() -> None:
            remote_commands.send(db.session.get(Device, device_id), {"RequestType": "ProfileList"}, created_by="test")
            db.session.flush()
        return work

    outcome = _race(app, worker, claimed, results, queue(second), queue(first))
    assert outcome == {"recording": "done", "settling": "done"}
