"""App lists from a hostile or broken phone under User Enrollment: a ``Status`` or ``Identifier`` that is an
array or a dictionary was a TypeError (a set lookup of an unhashable value), a 500; such an entry is dropped as
personal and the rest of the list is stored."""
import plistlib

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Command
from mdm_core.simulator.device import COMMAND_CONTENT_TYPE
from tests.fuzz.device_requests import signed_put

MANAGED = {"Status": "Managed"}


@pytest.mark.parametrize("request_type, answer, kept", [
    ("ManagedApplicationList",
     {"ManagedApplicationList": {"com.example.list": {"Status": ["Managed"]}, "com.example.dict": {"Status": {}},
                                 "com.example.notes": MANAGED}},
     {"ManagedApplicationList": {"com.example.notes": MANAGED}}),
    ("InstalledApplicationList",
     {"InstalledApplicationList": [{"Identifier": ["com.example.notes"]}, {"Identifier": {"a": 1}}]},
     {"InstalledApplicationList": []}),
])
def test_an_app_entry_whose_status_or_identifier_is_not_text_is_dropped_not_a_500(app, client, sent_inventory,
                                                                                  request_type, answer, kept):
    phone, uuids = sent_inventory
    body = plistlib.dumps({"Status": "Acknowledged", "CommandUUID": uuids[request_type],
                           "EnrollmentID": phone.enrollment_id, **answer})
    response = signed_put(client, phone, "/mdm/connect", body, COMMAND_CONTENT_TYPE, None)
    assert response.status_code == 200, response.data
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.command_uuid == uuids[request_type]))
        assert command.status == "acknowledged"
        stored = plistlib.loads(command.result)
    assert {key: stored[key] for key in kept} == kept
