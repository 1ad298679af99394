"""Command statuses on the command connection: the two-statement exchange PostgreSQL runs outside
a transaction block, the transaction it hands over to when an answer needs more, and a command
settled once when two reports of it race."""
import threading
import time

import pytest
from sqlalchemy import create_engine, event, func, select, text, update

from mdm_core import plist
from mdm_core.simulator.device import COMMAND_CONTENT_TYPE, SimulatedDevice
from portal.extensions import db
from portal.models import Command, Device, DeviceInventory, InventoryChange
from portal.remote_commands import enqueue


def _send(device_http, phone, report):
    body = plist.dumps(report)
    return device_http.put(phone.settings.server_url, content=body, headers=phone.headers(body, COMMAND_CONTENT_TYPE))


def _queue_device_information(app, phone) -> int:
    with app.app_context():
        device = db.session.scalar(select(Device).where(Device.enrollment_id == phone.enrollment_id))
        enqueue(device, {"RequestType": "DeviceInformation", "Queries": ["OSVersion", "BatteryLevel"]},
                created_by="test")
        db.session.commit()
        return device.id


def _answer_next_command(device_http, phone):
    """The device's report on the command its Idle is answered with."""
    command = _send(device_http, phone, phone.idle_report()).content
    _exchange, report = phone.report_for(command)
    return report


def _battery(phone, level):
    phone.facts = lambda: {**SimulatedDevice.facts(phone), "BatteryLevel": level}


def _state(app, device_id):
    with app.app_context():
        inventory = db.session.get(DeviceInventory, device_id)
        changes = db.session.scalar(select(func.count()).select_from(InventoryChange)
                                    .where(InventoryChange.device_id == device_id))
        return dict(inventory.facts), inventory.facts_updated_at, changes


def test_an_answer_changing_only_volatile_facts_is_stored_without_recording_changes(app, enroll, device_http):
    phone = enroll("user")
    device_id = _queue_device_information(app, phone)
    facts_before, stored_at_before, changes_before = _state(app, device_id)
    _battery(phone, 0.41)
    report = _answer_next_command(device_http, phone)
    assert _send(device_http, phone, report).status_code == 200
    facts, stored_at, changes = _state(app, device_id)
    assert facts == {**facts_before, "BatteryLevel": 0.41}
    assert stored_at > stored_at_before
    assert changes == changes_before
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.command_uuid == report["CommandUUID"]))
        assert command.status == "acknowledged"
        assert plist.loads(command.result)["QueryResponses"]["BatteryLevel"] == 0.41


def test_an_answer_of_the_wrong_shape_is_stored_and_leaves_the_inventory_as_it_was(app, enroll, device_http):
    phone = enroll("user")
    device_id = _queue_device_information(app, phone)
    before = _state(app, device_id)
    report = _answer_next_command(device_http, phone)
    del report["QueryResponses"]
    assert _send(device_http, phone, report).status_code == 200
    assert _state(app, device_id) == before
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.command_uuid == report["CommandUUID"]))
        assert command.status == "acknowledged"
        assert "QueryResponses" not in plist.loads(command.result)


@pytest.fixture
def transactions(app) -> list:
    """Transactions begun on the app's engine: a report on PostgreSQL that needs none begins none."""
    begun = []
    with app.app_context():
        engine = db.engine

    def count(connection):
        begun.append(connection)

    event.listen(engine, "begin", count)
    yield begun
    event.remove(engine, "begin", count)


@pytest.mark.postgres_only("SQLite runs every report in a transaction")
def test_a_plain_answer_needs_no_transaction_and_a_changed_fact_takes_one(app, enroll, device_http, transactions):
    phone = enroll("user")
    device_id = _queue_device_information(app, phone)
    _battery(phone, 0.5)
    report = _answer_next_command(device_http, phone)
    before = len(transactions)
    assert _send(device_http, phone, report).status_code == 200
    assert len(transactions) == before
    assert _state(app, device_id)[0]["BatteryLevel"] == 0.5

    _queue_device_information(app, phone)
    phone.os_version = "18.1"
    report = _answer_next_command(device_http, phone)
    before = len(transactions)
    assert _send(device_http, phone, report).status_code == 200
    assert len(transactions) == before + 1, "a changed fact is recorded in a transaction"
    with app.app_context():
        change = db.session.scalar(select(InventoryChange).where(InventoryChange.device_id == device_id,
                                                                 InventoryChange.key == "OSVersion"))
        assert change.new == "18.1"
        assert db.session.get(Device, device_id).os_version == "18.1"


def _sent_while_settled_elsewhere(database_url, device_http, phone, report):
    """Send ``report`` while another handler of it (a device's retry) is settling the command: this
    one reads the command as sent, then waits for the other's write, which commits first."""
    racer = create_engine(database_url)
    answers = []
    try:
        with racer.connect() as other, racer.connect() as watcher:
            holding = other.begin()
            other.execute(update(Command).where(Command.command_uuid == report["CommandUUID"])
                          .values(status="acknowledged", result=b"the first handler's"))
            sender = threading.Thread(target=lambda: answers.append(_send(device_http, phone, report)))
            sender.start()
            deadline = time.monotonic() + 30
            while not watcher.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                assert time.monotonic() < deadline, "the report never waited for the other handler's write"
                time.sleep(0.01)
            holding.commit()
            sender.join(30)
    finally:
        racer.dispose()
    return answers[0]


@pytest.mark.postgres_only("SQLite runs every report in a transaction")
@pytest.mark.parametrize("changed_fact", [False, True], ids=["answer-only", "handed-over-to-a-transaction"])
def test_a_command_settled_by_a_racing_report_is_settled_once(app, database_url, enroll, device_http,
                                                              changed_fact):
    """Between the exchange's read and its write, another handler of the same report settles the
    command: this one stores neither its result nor its answer, nor records a change."""
    phone = enroll("user")
    device_id = _queue_device_information(app, phone)
    facts_before, stored_at_before, changes_before = _state(app, device_id)
    _battery(phone, 0.2)
    if changed_fact:
        phone.os_version = "18.1"
    report = _answer_next_command(device_http, phone)
    assert _sent_while_settled_elsewhere(database_url, device_http, phone, report).status_code == 200
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.command_uuid == report["CommandUUID"]))
        assert (command.status, command.result) == ("acknowledged", b"the first handler's")
        assert db.session.get(Device, device_id).os_version != "18.1"
    assert _state(app, device_id) == (facts_before, stored_at_before, changes_before)
