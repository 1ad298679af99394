"""A finished license event is applied in a number of statements that does not grow with its licenses:
a disassociation gives every license back to the app's counts at once."""
from sqlalchemy import func, insert, select

from mdm_core.vpp.client import EventStatus
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
