"""Fixtures of the MDM endpoint tests."""
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Command


@pytest.fixture
def sent_inventory(app, enroll):
    """A phone whose inventory round is sent and awaits answers: ``(phone, {request_type: command_uuid})``."""
    phone = enroll(collect_inventory=False)
    with app.app_context():
        commands = db.session.scalars(select(Command)).all()
        for command in commands:
            command.status = "sent"
        db.session.commit()
        return phone, {command.request_type: command.command_uuid for command in commands}
