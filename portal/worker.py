"""The background worker, ``flask --app wsgi worker``: every background job in one process.

Push delivery runs continuously; periodic jobs run when due: the purge of ended rate-limit
windows (every minute), the configuration-profile pass (every minute: smart groups follow inventory
and time, and the rest of a rollout and its retries are queued here), and the inventory sweep (every
five minutes; it queues a round only for devices whose last one is older than the inventory
interval); every second, the commands of desired state already due (the rest of a large rollout, in
bounded rounds with the pushes sent between them); daily, the purge of history past retention
(``portal.retention``); every ten seconds, the Apps and Books follow-up; mail delivery (every second, from the outbox), the migration campaign's reminders and
automatic un-enrollments (every minute) and the admin alerts (every five minutes). Web workers run none
of them.

Several workers may run against one PostgreSQL, and their work is done once: pushes are claimed
with leases (``FOR UPDATE SKIP LOCKED``), the sweep claims each device it queues inventory for the
same way, and the purge only deletes what has ended. A database outage does not end the process:
the round is abandoned and tried again, with a growing pause, until the database answers.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import click
from flask import Flask, current_app

from .database.outage import is_outage
from .extensions import db
from .alerts.check import check_alerts
from .inventory.sweep import run_sweep
from .apps.triggers import follow_up as apps_follow_up
from .desired_state import deliver_due, reconcile_and_deliver
from .mail.delivery import deliver_due_mail
from .migration.notices import run_campaign
from .push.worker import PushWorker
from .rate_limits.counter import purge_expired
from .retention import purge_history

log = logging.getLogger(__name__)
IDLE_SLEEP = 0.5
OUTAGE_PAUSE, OUTAGE_PAUSE_MAX = 0.5, 5.0


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: float  # seconds between runs in one worker
    run: Callable[[], object]


PERIODIC_JOBS = (PeriodicJob("rate-limit purge", 60, purge_expired),
                 PeriodicJob("desired-state reconcile", 60, lambda: reconcile_and_deliver(db.session)),
                 PeriodicJob("inventory sweep", 300, run_sweep),
                 PeriodicJob("desired-state delivery", 1, lambda: deliver_due(db.session)),
                 PeriodicJob("history purge", 86400, lambda: purge_history(db.session)),
                 PeriodicJob("apps and books follow-up", 10, lambda: apps_follow_up(db.session)),
                 PeriodicJob("mail delivery", 1, deliver_due_mail),
                 PeriodicJob("migration campaign", 60, run_campaign),
                 PeriodicJob("admin alerts", 300, check_alerts))


class Worker:
    """Runs the periodic jobs when due and delivers pushes; ``run_once`` is one round."""

    def __init__(self, app: Flask, *, push_lease: float = 60.0, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> None:
        self.app = app
        self.push = PushWorker(app, lease=push_lease)
        self.jobs = jobs
        self._due = {job.name: 0.0 for job in jobs}

    def close(self) -> None:
        self.push.close()

    def run_once(self) -> int:
        """Run the periodic jobs that are due, then send every push that is due; returns the pushes attempted."""
        for job in self.jobs:
            if time.monotonic() >= self._due[job.name]:
                self._due[job.name] = time.monotonic() + job.every
                self._run(job)
        return self.push.run_once()

    def _run(self, job: PeriodicJob) -> None:
        with self.app.app_context():
            try:
                job.run()
            except Exception as error:
                db.session.rollback()
                if is_outage(error):
                    raise
                log.exception("%s failed; it runs again in %d s", job.name, job.every)  # pushes go on
            finally:
                db.session.remove()

    def run_forever(self) -> None:
        log.info("worker started")
        pause = OUTAGE_PAUSE
        try:
            while True:
                try:
                    attempted = self.run_once()
                except Exception as error:
                    if not is_outage(error):
                        raise
                    log.warning("database unavailable (%s); trying again in %.1f s", error.__class__.__name__, pause)
                    time.sleep(pause)
                    pause = min(pause * 2, OUTAGE_PAUSE_MAX)
                    continue
                pause = OUTAGE_PAUSE
                if not attempted:
                    time.sleep(IDLE_SLEEP)
        finally:
            self.close()


def register_worker_cli(app: Flask) -> None:
    """``worker``, and ``push-worker``: its former name, kept as an alias for existing set-ups."""

    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="Run each job once, then exit (tests, cron).")
    @click.option("--push-lease", type=click.FloatRange(min=1), default=60.0, show_default=True,
                  help="Seconds a claimed push is held before another worker may send it, should this one die.")
    @click.option("--mail-lease", type=click.FloatRange(min=1), default=120.0, show_default=True,
                  help="Seconds a claimed e-mail is held before another worker may send it, should this one die.")
    def worker(once: bool, push_lease: float, mail_lease: float) -> None:
        """Run every background job: push delivery, the inventory sweep, the rate-limit purge, mail (run one or
        more beside the web workers)."""
        current_app.config["MAIL_LEASE_SECONDS"] = mail_lease
        runner = Worker(current_app._get_current_object(), push_lease=push_lease)
        if once:
            try:
                click.echo(f"{runner.run_once()} push(es) attempted.")
            finally:
                runner.close()
            return
        runner.run_forever()

    app.cli.add_command(click.Command("push-worker", callback=worker.callback, params=worker.params,
                                      help="The former name of `worker`, which it runs."))
