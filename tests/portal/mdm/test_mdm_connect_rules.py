"""The command connection's identity and queue rules, pinned at the HTTP level.

These guard the hot path (``portal.mdm.report.record_report``), whose queries are tuned for
throughput: a refused request must change nothing, a finished command must stay finished.
"""
import json

import pytest
from sqlalchemy import func, select

from mdm_core import plist
from mdm_core.simulator.device import COMMAND_CONTENT_TYPE
from portal.extensions import db
from portal.models import Command, Device


def _put(device_http, phone, report: dict, signer=None):
    body = plist.dumps(report)
    return device_http.put(phone.settings.server_url, content=body,
                           headers=(signer or phone).headers(body, COMMAND_CONTENT_TYPE))


def _device_row(app, enrollment_id: str) -> Device:
    with app.app_context():
        device = db.session.scalar(select(Device).where(Device.enrollment_id == enrollment_id))
        db.session.expunge(device)
        return device


def _command_row(app, command_uuid: str) -> Command:
    with app.app_context():
        command = db.session.scalar(select(Command).where(Command.command_uuid == command_uuid))
        db.session.expunge(command)
        return command


def _queue(http_api, app, phone, request_type="ProfileList") -> str:
    device_id = _device_row(app, phone.enrollment_id).id
    response = http_api("POST", f"/devices/{device_id}/commands", json={"request_type": request_type})
    assert response.status_code == 201, response.text
    return response.json()["command_uuid"]


def test_idle_stamps_last_seen(enroll, device_http, app):
    phone = enroll()
    before = _device_row(app, phone.enrollment_id).last_seen_at
    assert _put(device_http, phone, phone.idle_report()).status_code == 200
    assert _device_row(app, phone.enrollment_id).last_seen_at > before


def test_report_signed_with_another_enrollments_certificate_is_refused_and_changes_nothing(enroll, http_api, device_http,
                                                                                          app):
    phone, other = enroll(managed_apple_id="a@example.org"), enroll(managed_apple_id="b@example.org")
    command_uuid = _queue(http_api, app, phone)
    before = _device_row(app, phone.enrollment_id).last_seen_at
    response = _put(device_http, phone, phone.idle_report(), signer=other)
    assert response.status_code == 403
    assert "does not match" in response.text
    assert _device_row(app, phone.enrollment_id).last_seen_at == before
    assert _command_row(app, command_uuid).status == "queued"  # not handed out to the forger


def test_status_signed_with_another_enrollments_certificate_is_refused_and_changes_nothing(enroll, http_api, device_http,
                                                                                          app):
    phone, other = enroll(managed_apple_id="a@example.org"), enroll(managed_apple_id="b@example.org")
    command_uuid = _queue(http_api, app, phone)
    assert plist.loads(_put(device_http, phone, phone.idle_report()).content)["CommandUUID"] == command_uuid
    before = _device_row(app, phone.enrollment_id).last_seen_at
    ack = {"Status": "Acknowledged", "CommandUUID": command_uuid, "EnrollmentID": phone.enrollment_id}
    response = _put(device_http, phone, ack, signer=other)
    assert response.status_code == 403
    assert "does not match" in response.text
    assert _device_row(app, phone.enrollment_id).last_seen_at == before
    command = _command_row(app, command_uuid)
    assert (command.status, command.result) == ("sent", None)


def test_unknown_enrollment_is_refused(enroll, device_http):
    phone = enroll()
    response = _put(device_http, phone, {"Status": "Idle", "EnrollmentID": "NOT-AN-ENROLLMENT"})
    assert response.status_code == 403
    assert "unknown enrollment" in response.text


def test_removed_enrollment_gets_apples_unrecognized_device_answer_and_nothing_changes(enroll, http_api, device_http, app):
    phone = enroll()
    command_uuid = _queue(http_api, app, phone)
    with app.app_context():
        device = db.session.scalar(select(Device).where(Device.enrollment_id == phone.enrollment_id))
        device.status = "unenrolled"
        db.session.commit()
    before = _device_row(app, phone.enrollment_id).last_seen_at
    response = _put(device_http, phone, phone.idle_report())
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == "com.apple.unrecognized.device"
    assert _device_row(app, phone.enrollment_id).last_seen_at == before
    assert _command_row(app, command_uuid).status == "queued"


def test_status_for_a_command_never_sent_is_refused_and_the_command_stays_queued(enroll, http_api, device_http, app):
    phone = enroll()
    command_uuid = _queue(http_api, app, phone)
    report = {"Status": "Acknowledged", "CommandUUID": command_uuid, "EnrollmentID": phone.enrollment_id}
    response = _put(device_http, phone, report)
    assert response.status_code == 400
    assert _command_row(app, command_uuid).status == "queued"


def test_error_report_keeps_the_result_and_error_chain(enroll, http_api, device_http, app):
    phone = enroll()
    command_uuid = _queue(http_api, app, phone)
    delivered = _put(device_http, phone, phone.idle_report())
    assert plist.loads(delivered.content)["CommandUUID"] == command_uuid
    chain = [{"ErrorCode": 12021, "ErrorDomain": "MCMDMErrorDomain", "LocalizedDescription": "Nope"}]
    report = {"Status": "Error", "CommandUUID": command_uuid, "EnrollmentID": phone.enrollment_id, "ErrorChain": chain}
    answer = _put(device_http, phone, report)
    assert (answer.status_code, answer.content) == (200, b"")
    command = _command_row(app, command_uuid)
    assert command.status == "error"
    assert command.error_chain == chain
    assert plist.loads(command.result)["Status"] == "Error"
    assert command.completed_at is not None and command.sent_at is not None


def test_repeated_report_of_a_finished_command_changes_nothing(enroll, http_api, device_http, app):
    phone = enroll()
    command_uuid = _queue(http_api, app, phone)
    _put(device_http, phone, phone.idle_report())
    ack = {"Status": "Acknowledged", "CommandUUID": command_uuid, "EnrollmentID": phone.enrollment_id}
    assert _put(device_http, phone, ack).status_code == 200
    finished = _command_row(app, command_uuid)
    again = _put(device_http, phone, {**ack, "Status": "Error"})
    assert (again.status_code, again.content) == (200, b"")
    command = _command_row(app, command_uuid)
    assert (command.status, command.completed_at, command.result) == ("acknowledged", finished.completed_at, finished.result)


def test_commands_are_delivered_oldest_first_one_per_answer(enroll, http_api, device_http, app):
    phone = enroll()
    first, second = _queue(http_api, app, phone, "ProfileList"), _queue(http_api, app, phone, "CertificateList")
    delivered = _put(device_http, phone, phone.idle_report())
    assert plist.loads(delivered.content)["CommandUUID"] == first
    assert _command_row(app, first).status == "sent"
    assert _command_row(app, second).status == "queued"
    ack = {"Status": "Acknowledged", "CommandUUID": first, "EnrollmentID": phone.enrollment_id}
    assert plist.loads(_put(device_http, phone, ack).content)["CommandUUID"] == second


def test_a_command_string_with_a_control_character_is_refused_and_queues_nothing(enroll, http_api, app):
    phone = enroll()
    device_id = _device_row(app, phone.enrollment_id).id
    response = http_api("POST", f"/devices/{device_id}/commands",
                   json={"request_type": "RemoveProfile", "Identifier": "com.example.\u0001profile"})
    assert response.status_code == 422
    assert "property list" in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Command)
                                 .where(Command.request_type == "RemoveProfile")) == 0
