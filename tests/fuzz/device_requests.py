"""Sending a fuzzed body to a device endpoint correctly signed by an enrolled phone, and checking the
invariants of every case: no 5xx, no traceback, a refusal changes no row, an acceptance only the
phone's own."""
from __future__ import annotations

import base64

from hypothesis import given, strategies as st
from sqlalchemy import text

from mdm_core import cms
from mdm_core.plist import MAX_PLIST_BYTES
from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE
from portal.extensions import db
from tests.fuzz.harness import Cases, changes, fuzz_settings, snapshot
from tests.fuzz.strategies import AUTHORIZATIONS, bodies


def signed_put(client, phone, path: str, body: bytes, content_type: str | None, authorization: str | None):
    headers = {"Mdm-Signature": base64.b64encode(cms.sign(body, phone.identity, detached=True)).decode()}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.put(path, data=body, headers=headers)


def device_id(app, phone) -> int:
    with app.app_context():
        return db.session.execute(text("SELECT id FROM devices WHERE enrollment_id = :e"),
                                  {"e": phone.enrollment_id}).scalar_one()


class Invariants:
    """Checks each case against the rows as the previous case left them (one snapshot a case)."""

    def __init__(self, app, cases: Cases, tracebacks, own_device: int | None) -> None:
        self.app, self.cases, self.tracebacks, self.own_device = app, cases, tracebacks, own_device
        self.rows = snapshot(app)

    def check(self, response, *, allowed: frozenset[int] | None = None) -> None:
        status = response.status_code
        self.cases.count(status)
        assert status < 500 and (allowed is None or status in allowed), (status, response.get_data()[:500])
        logged = self.tracebacks.take()
        assert not logged, logged
        before, self.rows = self.rows, snapshot(self.app)
        changed = changes(before, self.rows, except_device=self.own_device if status < 400 else None)
        assert not changed, (status, changed)

    def resnapshot(self) -> None:
        self.rows = snapshot(self.app)


def keep_enrolled(app, device: int) -> bool:
    """Undo what an accepted CheckOut did, so later cases still reach past the pin rule; True if it did."""
    with app.app_context():
        undone = db.session.execute(text("UPDATE devices SET status = 'enrolled', unenrolled_at = NULL "
                                         "WHERE id = :d AND status = 'unenrolled'"), {"d": device}).rowcount
        db.session.commit()
    return bool(undone)


def fuzz_checkins(app, client, tracebacks, phone, endpoint: str, messages, *, other_types: tuple = ()) -> None:
    """Run the fuzz cases of ``PUT /mdm/checkin``: each of ``messages`` made a hostile body (``bodies``, up to
    one byte past the plist and request limits) signed by ``phone``, with every ``Authorization`` shape, the
    check-in content type or none or one of ``other_types``; the phone re-enrolled after a case that checked
    it out."""
    own = device_id(app, phone)
    cases = Cases(endpoint)
    invariants = Invariants(app, cases, tracebacks, own)
    limits = (MAX_PLIST_BYTES, app.config["MAX_CONTENT_LENGTH"])

    @fuzz_settings()
    @given(body=bodies(messages, limits), authorization=AUTHORIZATIONS,
           content_type=st.sampled_from([CHECKIN_CONTENT_TYPE] * 10 + [None, *other_types]))
    def case(body, authorization, content_type):
        invariants.check(signed_put(client, phone, "/mdm/checkin", body, content_type, authorization))
        if keep_enrolled(app, own):
            invariants.resnapshot()

    with cases:
        case()
