"""The background worker: periodic jobs when due, a failing job never stops the others, an outage
is left to the loop (which pauses and tries again), and sweeps on several workers queue once."""
import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.inventory.sweep import run_sweep
from portal.models import Command, Device
from portal.models.base import utcnow
from portal.worker import PERIODIC_JOBS, PeriodicJob, Worker


@pytest.fixture
def make_worker(app):
    made = []

    def make(*jobs):
        worker = Worker(app, jobs=jobs)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()


def _commands(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Command))


def test_a_periodic_job_runs_at_once_then_once_per_interval(make_worker):
    runs = []
    worker = make_worker(PeriodicJob("count", 60, lambda: runs.append(1)))
    worker.run_once()
    worker.run_once()
    assert runs == [1]


def test_a_failing_job_is_logged_and_the_other_jobs_run(make_worker, caplog, monkeypatch):
    # the in-process migration's logging.config.fileConfig disabled loggers that existed before it
    monkeypatch.setattr(logging.getLogger("portal.worker"), "disabled", False)

    def broken():
        raise ValueError("a bug")

    runs = []
    worker = make_worker(PeriodicJob("broken", 60, broken), PeriodicJob("count", 60, lambda: runs.append(1)))
    assert worker.run_once() == 0
    assert runs == [1]
    assert "broken failed; it runs again in 60 s" in caplog.text


def test_a_database_outage_in_a_job_reaches_the_loop(make_worker):
    def unreachable():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with pytest.raises(OperationalError):
        make_worker(PeriodicJob("sweep", 60, unreachable)).run_once()


def test_the_worker_sweeps_inventory_for_due_devices(app, enroll, make_worker):
    enroll("user")
    with app.app_context():
        db.session.execute(update(Device).values(inventory_requested_at=utcnow() - timedelta(days=2)))
        db.session.commit()
    before = _commands(app)
    make_worker(*PERIODIC_JOBS).run_once()
    assert _commands(app) > before, "an inventory round was queued"


@pytest.mark.postgres_only("SQLite has no row locks: its writers take turns")
def test_sweeps_on_two_workers_at_once_queue_each_device_once(app, enroll):
    for n in range(3):
        enroll("user", f"user{n}@example.org")
    with app.app_context():
        db.session.execute(update(Device).values(inventory_requested_at=utcnow() - timedelta(days=2)))
        db.session.commit()
        before = _commands(app)
        other = db.engine.connect()  # another worker's sweep, half-way through its batch
        transaction = other.begin()
        other.execute(select(Device.id).with_for_update())
        other.execute(update(Device).values(inventory_requested_at=utcnow()))
    queued = []

    def sweep() -> None:
        with app.app_context():
            queued.append(run_sweep())
            db.session.remove()

    sweeping = threading.Thread(target=sweep)
    sweeping.start()
    sweeping.join(5)
    finished_first = not sweeping.is_alive()
    transaction.commit()
    other.close()
    sweeping.join(10)
    assert queued == [0] and _commands(app) == before, "the devices were the other sweep's"
    assert finished_first, "a sweep skips the devices another one holds rather than waiting for them"


def test_the_worker_queues_profile_installs_that_are_due(app, api, enroll, make_worker):
    """A rollout's rows that no request delivered (a large scope, a retry) are queued by the worker's pass."""
    from portal.models import ProfileState
    from tests.helpers import PROFILE_CORPUS

    enroll("user")
    upload = api("POST", "/profiles", data=(PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes())
    profile_id = upload.get_json()["id"]
    assert api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True}).status_code == 200
    installs = select(func.count()).select_from(Command).where(Command.request_type == "InstallProfile")
    with app.app_context():
        db.session.execute(Command.__table__.delete().where(Command.request_type == "InstallProfile"))
        db.session.execute(update(ProfileState).values(last_command_uuid=None, status="pending"))
        db.session.commit()
    make_worker(*PERIODIC_JOBS).run_once()
    with app.app_context():
        assert db.session.scalar(installs) == 1


def test_the_rest_of_a_rollout_is_queued_within_a_second_in_bounded_rounds(app, api, seed, make_worker, monkeypatch):
    """The request queues one batch; the worker's frequent job queues the rest without waiting for its
    reconciling pass, a bounded number of batches per round so that pushes go out in between."""
    from portal.profiles import delivery, triggers
    from tests.helpers import PROFILE_CORPUS

    monkeypatch.setattr(delivery, "BATCH", 2)
    monkeypatch.setattr(triggers, "ROUND_BATCHES", 2)
    seed(9)
    profile_id = api("POST", "/profiles", data=(PROFILE_CORPUS / "wifi-wpa2.mobileconfig").read_bytes()).get_json()["id"]
    assert api("PUT", f"/profiles/{profile_id}/scope", json={"all_user_enrolled": True}).status_code == 200
    installs = select(func.count()).select_from(Command).where(Command.request_type == "InstallProfile")
    with app.app_context():
        assert db.session.scalar(installs) == 2, "the request queues one batch"
    delivering = [job for job in PERIODIC_JOBS if job.name == "desired-state delivery"]
    assert [job.every for job in delivering] == [1]
    worker = make_worker(*delivering)
    worker.run_once()
    with app.app_context():
        assert db.session.scalar(installs) == 6, "two batches a round"
    worker._due = dict.fromkeys(worker._due, 0.0)
    worker.run_once()
    with app.app_context():
        assert db.session.scalar(installs) == 9
