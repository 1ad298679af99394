"""The push worker: takes due outbox rows, sends them to APNs, settles each by APNs' answer.

Runs in the background worker's process (``flask --app wsgi worker``), never in a web worker. Workers
coordinate through the database: a claim is a short transaction (``FOR UPDATE SKIP LOCKED``
on PostgreSQL) that leases rows for ``lease`` seconds; nothing is locked while pushes are
in flight, and rows of a worker that died are taken over when their lease runs out.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import bindparam, delete, or_, select, update

from mdm_core.apns.client import BlockingApnsClient, Disposition, MdmPush, client_ssl_context, disposition, retry_delay
from mdm_core.ca import certificate_fingerprint

from .. import audit
from ..extensions import db
from ..models import Device, PushOutbox
from ..models.base import utcnow
from ..models.device import DeviceStatus
from .certificate import clear_alert, current_push_certificate, raise_alert

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12  # with backoff capped at 5 minutes: about half an hour of trying
BAD_CERTIFICATE_DELAY = timedelta(minutes=5)
PUSH_LIFETIME = 24 * 3600  # apns-expiration: APNs keeps the push for a phone that is offline
_PUSH_IDS = uuid.UUID("5b0e4a8e-58c6-4b7a-9a43-0d1f6b8c2e71")  # the namespace of apns-id values


@dataclass(frozen=True)
class _Claimed:
    outbox_id: int
    generation: int
    attempts: int
    device_id: int
    push: MdmPush


def push_id(outbox_id: int, created_at: datetime, generation: int) -> str:
    """The apns-id of the push for this outbox row's generation: the same on every attempt and in every
    worker, so a push sent again (its worker died before recording the delivery) is known as the same."""
    return str(uuid.uuid5(_PUSH_IDS, f"{outbox_id}/{created_at.isoformat()}/{generation}")).upper()


class PushWorker:
    """Delivers the outbox: ``run_once`` drains what is due (the background worker loops over it)."""

    def __init__(self, app: Flask, *, batch_size: int = 1000, lease: float = 60.0,
                 max_connections: int = 4) -> None:
        self.app = app
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease)
        self.max_connections = max_connections
        self._client: BlockingApnsClient | None = None
        self._client_key: tuple | None = None
        self._warned_no_certificate = False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def run_once(self) -> int:
        """Send every push that is due now; returns how many pushes were attempted."""
        attempted = 0
        with self.app.app_context():
            try:
                client = self._sender()
                if client is None:
                    return 0
                while True:
                    claimed = self._claim()
                    if not claimed:
                        break
                    results = client.send_many([c.push for c in claimed])
                    self._settle(claimed, results)
                    attempted += len(claimed)
            finally:
                db.session.remove()
        return attempted

    def _sender(self) -> BlockingApnsClient | None:
        push = current_push_certificate()
        db.session.commit()
        if push is None:
            if not self._warned_no_certificate:
                log.warning("no push certificate imported: pushes stay in the outbox until one is "
                            "(admin page Push certificate, or flask --app wsgi apns import-cert)")
                self._warned_no_certificate = True
            return None
        config = self.app.config
        key = (certificate_fingerprint(push.certificate), config["APNS_ENDPOINT"], config["APNS_CA_BUNDLE"])
        if key != self._client_key:
            self.close()
            self._client = BlockingApnsClient(config["APNS_ENDPOINT"], client_ssl_context(push, config["APNS_CA_BUNDLE"]),
                                              push.topic, max_connections=self.max_connections)
            self._client_key = key
            log.info("sending pushes for topic %s to %s", push.topic, config["APNS_ENDPOINT"])
        return self._client

    # -- claim and settle ---------------------------------------------------------------------
    def _claim(self) -> list[_Claimed]:
        now = utcnow()
        query = (
            select(PushOutbox.id, PushOutbox.generation, PushOutbox.attempts, PushOutbox.created_at, Device.id,
                   Device.push_token, Device.push_magic, Device.push_token_dead_at, Device.status)
            .join(Device, Device.id == PushOutbox.device_id)
            .where(PushOutbox.next_attempt_at <= now,
                   or_(PushOutbox.claimed_until.is_(None), PushOutbox.claimed_until < now))
            .order_by(PushOutbox.next_attempt_at).limit(self.batch_size)
        )
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=PushOutbox, skip_locked=True)
        claimed, unpushable = [], []
        expiration = int(time.time()) + PUSH_LIFETIME
        for outbox_id, generation, attempts, created_at, device_id, token, magic, dead_at, status in db.session.execute(query):
            if not token or not magic or dead_at is not None or status != DeviceStatus.ENROLLED:
                unpushable.append(outbox_id)
            else:
                apns_id = push_id(outbox_id, created_at, generation)
                claimed.append(_Claimed(outbox_id, generation, attempts, device_id,
                                        MdmPush(token, magic, expiration, apns_id)))
        if unpushable:
            db.session.execute(delete(PushOutbox).where(PushOutbox.id.in_(unpushable)))
        if claimed:
            db.session.execute(update(PushOutbox).where(PushOutbox.id.in_([c.outbox_id for c in claimed]))
                               .values(claimed_until=now + self.lease))
        db.session.commit()
        return claimed

    @staticmethod
    def _lock_in_order(claimed: list[_Claimed], dead: list[_Claimed]) -> dict[int, str | None]:
        """Take the rows settling writes in the order every transaction requesting a push takes them (its device
        rows, then its push rows last, in device order: ``portal.push.outbox``), before writing any: the dead
        tokens' devices, then the claimed push rows. Written group by group in the claim's order, a delivery
        holding one device's push row waited for another's that a commit recording pushes held while it waited for
        the first: a deadlock, which PostgreSQL broke by failing one of them. Returns the dead tokens' devices'
        tokens now (a TokenUpdate may have brought a new one while the push was in flight)."""
        tokens = {}
        if dead:  # FOR NO KEY UPDATE, the UPDATE's lock: a row inserted for the device (its key checked) waits for neither
            tokens = dict(db.session.execute(select(Device.id, Device.push_token).where(
                Device.id.in_([item.device_id for item in dead])).order_by(Device.id).with_for_update(key_share=True)).all())
        db.session.execute(select(PushOutbox.id).where(PushOutbox.id.in_([item.outbox_id for item in claimed]))
                           .order_by(PushOutbox.device_id).with_for_update())
        return tokens

    def _settle(self, claimed: list[_Claimed], results) -> None:
        """Each push's answer applies to its row only as the push left it (its ``generation``): a row that got a
        new request while the push was in flight is due again at once, whatever became of that push, and so is
        one whose device sent a new token while the old one was found dead."""
        now = utcnow()
        table = PushOutbox.__table__
        finished, retries, dead, rejected = [], [], [], []
        bad_certificate, delivered = None, False
        for item, result in zip(claimed, results):
            outcome = disposition(result)
            if outcome is Disposition.DELIVERED:
                finished.append(item)
                delivered = True
            elif outcome is Disposition.TOKEN_DEAD:
                dead.append(item)
            elif outcome is Disposition.REJECTED:
                rejected.append((item, result))
            else:
                error = f"{result.status or 'no answer'} {result.reason or ''}".strip()[:200]
                attempts = item.attempts + 1
                if outcome is Disposition.BAD_CERTIFICATE:
                    bad_certificate = result.reason or "BadCertificate"
                    attempts, delay = item.attempts, BAD_CERTIFICATE_DELAY
                elif attempts >= MAX_ATTEMPTS:
                    rejected.append((item, result))
                    continue
                else:
                    delay = timedelta(seconds=retry_delay(attempts))
                retries.append({"b_id": item.outbox_id, "b_generation": item.generation, "b_attempts": attempts,
                                "b_next": now + delay, "b_error": error})
        connection = db.session.connection()
        tokens = self._lock_in_order(claimed, dead)
        dead = [item for item in dead if tokens.get(item.device_id) == item.push.token]  # else: try the new token
        for item, result in rejected:
            log.error("push to device %s given up: %s %s", item.device_id, result.status, result.reason)
        finished += [item for item, _ in rejected] + dead
        if finished:
            connection.execute(table.delete().where(table.c.id == bindparam("b_id"),
                                                    table.c.generation == bindparam("b_generation")),
                               [{"b_id": item.outbox_id, "b_generation": item.generation} for item in finished])
        if retries:
            connection.execute(table.update().where(table.c.id == bindparam("b_id"),
                                                    table.c.generation == bindparam("b_generation")).values(
                attempts=bindparam("b_attempts"), next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"), claimed_until=None), retries)
        # what is left still claimed got a new request (or a new token) while its push was in flight: due again now
        db.session.execute(update(PushOutbox).where(PushOutbox.id.in_([item.outbox_id for item in claimed]),
                                                    PushOutbox.claimed_until.is_not(None)).values(claimed_until=None))
        if delivered:
            clear_alert()
        if dead:
            db.session.execute(update(Device).where(Device.id.in_([i.device_id for i in dead]))
                               .values(push_token_dead_at=now))
            for item in dead:
                audit.record("device.push_token_dead", target_type="device", target_id=item.device_id,
                             actor_type="system", actor="push-worker")
        if bad_certificate:
            log.error("APNs refused the push certificate (%s): pushes wait until it is replaced", bad_certificate)
            raise_alert(bad_certificate)
        db.session.commit()
