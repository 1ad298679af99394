"""Fixtures of the managed-app tests: the server pointed at the Apps and Books stand-in, people with
groups, their simulated phones, and the worker's pass."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.desired_state import memberships_synced, reconcile_and_deliver
from portal.extensions import db
from portal.models import Device, EndUser
from portal.models.base import utcnow


@pytest.fixture
def vpp(app, vpp_standin):
    """The stand-in, with ``VPP_ENDPOINT`` and ``VPP_CA_BUNDLE`` pointing at it (and no iTunes lookup)."""
    saved = {key: app.config.get(key) for key in ("VPP_ENDPOINT", "VPP_CA_BUNDLE", "ITUNES_LOOKUP_URL")}
    app.config.update(VPP_ENDPOINT=vpp_standin.url, VPP_CA_BUNDLE=vpp_standin.ca_bundle, ITUNES_LOOKUP_URL=None)
    yield vpp_standin
    app.config.update(saved)


@pytest.fixture
def person(app):
    """``person(email, *groups)``: an employee row with these groups (as from sign-in)."""

    def make(email, *groups):
        with app.app_context():
            user = db.session.scalar(select(EndUser).where(EndUser.managed_apple_id == email))
            if user is None:
                user = EndUser(issuer="https://idp.example.org", subject=email, managed_apple_id=email, email=email,
                               name=email.split("@")[0].title())
                db.session.add(user)
                db.session.flush()
            memberships_synced(db.session, user, groups)
            db.session.commit()
            return user.id

    return make


@pytest.fixture
def worker_pass(app):
    """``worker_pass(seconds_later=0)``: the worker's desired-state job, as if run that much later."""

    def run(seconds_later=0):
        with app.app_context():
            handled = reconcile_and_deliver(db.session, now=utcnow() + timedelta(seconds=seconds_later))
            db.session.commit()
            db.session.remove()
            return handled

    return run


@pytest.fixture
def device_id(app):
    def find(phone):
        with app.app_context():
            return db.session.scalar(select(Device.id).where(Device.enrollment_id == phone.identifier))

    return find
