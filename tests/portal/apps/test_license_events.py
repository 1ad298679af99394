"""A finished license event is applied in a number of statements that does not grow with its licenses:
a disassociation gives every license back to the app's counts at once. An event the service no longer knows, or
answers about with no usable status, failed; the service being down or refusing the token still ends the pass."""
import httpx
import pytest
from sqlalchemy import func, insert, select

from mdm_core.vpp.client import EventStatus, VppClient, VppError, VppRateLimited, VppTokenExpired
from portal.apps import sync
from portal.extensions import db
from portal.models import App, AppLicense, AppUser
from portal.models.app import LicenseStatus
from portal.models.base import utcnow
from tests.portal.profiles.test_reconciliation import counted_statements


class _Service:
    """Every event is complete."""

    def event_status(self, event_id):
        return EventStatus("COMPLETE", [], {})


def _releasing(adam_id, people, event_id):
    now = utcnow()
    app = App(source="vpp", adam_id=adam_id, pricing_param="STDQ", licenses_total=people, licenses_assigned=people,
              licenses_available=0)
    db.session.add(app)
    db.session.flush()
    users = db.session.scalars(insert(AppUser).returning(AppUser.id), [
        {"managed_apple_id": f"{adam_id}-{i}@example.org", "client_user_id": f"{adam_id}-{i}", "status": "registered",
         "created_at": now, "updated_at": now} for i in range(people)]).all()
    db.session.execute(insert(AppLicense), [
        {"app_id": app.id, "app_user_id": user_id, "status": LicenseStatus.DISASSOCIATING, "event_id": event_id,
         "updated_at": now} for user_id in users])
    db.session.commit()
    return app.id


def _applied(event_id):
    with counted_statements() as statements:
        sync._apply_license_event(db.session, event_id, _Service().event_status(event_id), utcnow())
        db.session.commit()
    return len(statements)


def test_a_disassociation_event_frees_every_license_in_statements_that_do_not_grow(app):
    with app.app_context():
        few, many = _releasing("1", 2, "event-few"), _releasing("2", 30, "event-many")
        assert _applied("event-few") == _applied("event-many")
        assert db.session.scalar(select(func.count()).select_from(AppLicense)) == 0
        assert [(a.licenses_assigned, a.licenses_available) for a in
                db.session.scalars(select(App).where(App.id.in_((few, many))).order_by(App.id))] == [(0, 2), (0, 30)]


def _answering(status: int, body: bytes) -> VppClient:
    """A client whose service answers every event status with ``status`` and ``body``."""
    def answer(request):
        if request.url.path.endswith("/service/config"):
            return httpx.Response(200, json={})
        return httpx.Response(status, content=body, headers={"Content-Type": "application/json"})
    http = httpx.Client(transport=httpx.MockTransport(answer))
    return VppClient("https://vpp.example.org/mdm/v2/", "token", client=http, max_attempts=1, sleep=lambda _: None)


@pytest.mark.parametrize("status, body", [
    (400, b'{"errorNumber": 9708, "errorMessage": "EventId could not be found."}'),
    (200, b'{"eventStatus": "DONE"}'),
    (200, b"<html>"),
], ids=["unknown-event", "undocumented-status", "not-json"])
def test_a_release_whose_event_has_no_status_is_tried_again_with_backoff(app, status, body):
    """The error ended every pass before anything else was done, and the release waited forever."""
    with app.app_context():
        _releasing("1", 2, "event-lost")
        assert sync._poll(db.session, _answering(status, body), utcnow()) == 1
        licenses = db.session.scalars(select(AppLicense)).all()
        assert {(license_.status, license_.attempts) for license_ in licenses} == {(LicenseStatus.RELEASING, 1)}
        assert all("no status for its event" in license_.error for license_ in licenses)


@pytest.mark.parametrize("status, body, error", [
    (503, b'{"errorNumber": 9603, "errorMessage": "Internal error."}', VppError),
    (401, b'{"errorNumber": 9621, "errorMessage": "The token has expired."}', VppTokenExpired),
    (429, b'{"errorNumber": 9646, "errorMessage": "Too many requests."}', VppRateLimited),
], ids=["service-down", "token-expired", "rate-limited"])
def test_a_service_that_cannot_answer_an_event_ends_the_pass_and_changes_nothing(app, status, body, error):
    with app.app_context():
        _releasing("1", 2, "event-waiting")
        with pytest.raises(error):
            sync._poll(db.session, _answering(status, body), utcnow())
        db.session.rollback()
        statuses = set(db.session.scalars(select(AppLicense.status)))
        assert statuses == {LicenseStatus.DISASSOCIATING}
