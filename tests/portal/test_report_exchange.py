"""Command statuses on the command connection: the two-statement exchange PostgreSQL runs outside
a transaction block, the transaction it leaves to when an answer needs more, and a command
settled once when two reports of it race."""
import pytest
from sqlalchemy import create_engine, func, select, update

from mdm_core import plist
from mdm_core.simulator.device import COMMAND_CONTENT_TYPE, SimulatedDevice
from portal.extensions import db
from portal.mdm import store
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


def _counting_transactions(monkeypatch) -> list:
    """The reports that went to the general path (a transaction)."""
    calls = []
    record_report = store._record_report

    def counted(*args, **kwargs):
        calls.append(args[-3].status)  # the report
        return record_report(*args, **kwargs)

    monkeypatch.setattr(store, "_record_report", counted)
    return calls


@pytest.mark.postgres_only("SQLite runs every report in a transaction")
def test_a_plain_answer_needs_no_transaction_and_a_changed_fact_takes_one(app, enroll, device_http, monkeypatch):
    phone = enroll("user")
    device_id = _queue_device_information(app, phone)
    transactions = _counting_transactions(monkeypatch)
    _battery(phone, 0.5)
    assert _send(device_http, phone, _answer_next_command(device_http, phone)).status_code == 200
    assert transactions == []
    assert _state(app, device_id)[0]["BatteryLevel"] == 0.5

    _queue_device_information(app, phone)
    phone.os_version = "18.1"
    assert _send(device_http, phone, _answer_next_command(device_http, phone)).status_code == 200
    assert transactions == ["Acknowledged"], "a changed fact is recorded in a transaction"
    with app.app_context():
        change = db.session.scalar(select(InventoryChange).where(InventoryChange.device_id == device_id,
                                                                 InventoryChange.key == "OSVersion"))
        assert change.new == "18.1"
        assert db.session.get(Device, device_id).os_version == "18.1"


@pytest.mark.postgres_only("SQLite runs every report in a transaction")
def test_a_command_settled_by_a_racing_report_is_settled_once(app, database_url, enroll, device_http, monkeypatch):
    """Between the exchange's read and its write, another handler of the same report (a device's
    retry) settles the command: this one stores neither its result nor its answer."""
    phone = enroll("user")
    device_id = _queue_device_information(app, phone)
    facts_before, stored_at_before, _changes = _state(app, device_id)
    _battery(phone, 0.2)
    report = _answer_next_command(device_http, phone)
    racer = create_engine(database_url)
    sanitized = store._sanitized

    def settled_meanwhile(*args, **kwargs):
        with racer.begin() as connection:
            connection.execute(update(Command).where(Command.command_uuid == report["CommandUUID"])
                               .values(status="acknowledged", result=b"the first handler's"))
        return sanitized(*args, **kwargs)

    monkeypatch.setattr(store, "_sanitized", settled_meanwhile)
    try:
        assert _send(device_http, phone, report).status_code == 200
    finally:
        racer.dispose()
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.command_uuid == report["CommandUUID"]))
        assert (command.status, command.result) == ("acknowledged", b"the first handler's")
    assert _state(app, device_id)[:2] == (facts_before, stored_at_before)
