"""Push end to end: the admin imports the push certificate, queued commands are recorded in
the outbox and the push worker delivers them to the APNs stand-in over real TLS and HTTP/2."""
import datetime as dt
import io
import logging
import os

import pytest
from sqlalchemy import select, update

from tests.helpers import csrf_token_from, pem_of
from mdm_core.apns.standin_pki import issue_push_certificate
from portal.extensions import db
from portal.models import Device, PkiIdentity, PushOutbox
from portal.models.base import utcnow
from portal.pki import push_topic
from portal.push.certificate import import_push_certificate
from portal.push.worker import PushWorker


def _device_id(app, phone) -> int:
    with app.app_context():
        return db.session.scalar(select(Device.id).where(Device.enrollment_id == phone.enrollment_id))


def _outbox(app) -> list[PushOutbox]:
    with app.app_context():
        rows = db.session.scalars(select(PushOutbox)).all()
        db.session.expunge_all()
        return rows


def _make_due(app) -> None:
    """Skip the backoff wait, as if its time had passed."""
    with app.app_context():
        db.session.execute(update(PushOutbox).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()


def _queue(http_api, device_id, request_type="ProfileList"):
    response = http_api("POST", f"/devices/{device_id}/commands", json={"request_type": request_type})
    assert response.status_code == 201, response.text


# -- the certificate -------------------------------------------------------------------------------
def test_admin_uploads_push_certificate_and_sees_topic_and_days_left(app, admin_client, standin_pki):
    pki, _files = standin_pki
    page = admin_client.get("/admin/push-certificate").get_data(as_text=True)
    assert "No push certificate is imported" in page
    cert, key = pem_of(pki.push)
    response = admin_client.post("/admin/push-certificate", data={
        "csrf_token": csrf_token_from(page), "certificate": (io.BytesIO(cert), "push.pem"),
        "key": (io.BytesIO(key), "push-key.pem")}, content_type="multipart/form-data", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert pki.topic in html and "days left" in html
    dashboard = admin_client.get("/admin/").get_data(as_text=True)
    assert "Push certificate" in dashboard and "days left" in dashboard and pki.topic in dashboard
    with app.app_context():
        assert push_topic() == (pki.topic, False)
        stored = db.session.get(PkiIdentity, "apns_push")
        assert b"ENCRYPTED PRIVATE KEY" in stored.private_key_pem, "the key is stored encrypted"


def test_expired_certificate_upload_is_refused_with_the_reason(app, admin_client, standin_pki):
    pki, _files = standin_pki
    now = dt.datetime.now(dt.timezone.utc)
    expired = issue_push_certificate(pki.push_ca, not_before=now - dt.timedelta(days=400),
                                     not_after=now - dt.timedelta(days=2))
    cert, key = pem_of(expired)
    page = admin_client.get("/admin/push-certificate").get_data(as_text=True)
    response = admin_client.post("/admin/push-certificate", data={
        "csrf_token": csrf_token_from(page), "certificate": (io.BytesIO(cert + key), "push.pem")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Refused: the certificate expired on" in response.get_data(as_text=True)
    with app.app_context():
        assert push_topic()[1] is True, "nothing was imported"


def test_cli_imports_certificate_and_refuses_a_bad_one_with_the_reason(app, runner, standin_pki, tmp_path):
    pki, files = standin_pki
    result = runner.invoke(args=["apns", "import-cert", str(files["push_cert"])])
    assert result.exit_code != 0 and "private key is missing" in result.output
    result = runner.invoke(args=["apns", "import-cert", str(files["push_cert"]), "--key", str(files["server_key"])])
    assert result.exit_code != 0 and "does not belong to the certificate" in result.output
    result = runner.invoke(args=["apns", "import-cert", str(files["push_cert"]), "--key", str(files["push_key"])])
    assert result.exit_code == 0, result.output
    assert f"topic {pki.topic}" in result.output
    with app.app_context():
        assert push_topic() == (pki.topic, False)


def test_renewal_with_another_topic_is_refused_unless_confirmed(app, push_cert, enroll, runner, tmp_path):
    enroll("user")
    renewed = issue_push_certificate(push_cert.push_ca)  # a new topic: Create instead of Renew
    cert, key = pem_of(renewed)
    (tmp_path / "new.pem").write_bytes(cert + key)
    result = runner.invoke(args=["apns", "import-cert", str(tmp_path / "new.pem")])
    assert result.exit_code != 0
    assert "1 enrolled device(s)" in result.output and "--allow-topic-change" in result.output
    same_topic = issue_push_certificate(push_cert.push_ca, push_cert.topic)
    (tmp_path / "renewed.pem").write_bytes(b"".join(pem_of(same_topic)))
    assert runner.invoke(args=["apns", "import-cert", str(tmp_path / "renewed.pem")]).exit_code == 0
    result = runner.invoke(args=["apns", "import-cert", str(tmp_path / "new.pem"), "--allow-topic-change"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert push_topic()[0] != push_cert.topic


def test_enrollment_profiles_take_the_certificate_topic(app, push_cert, enroll):
    phone = enroll("user")
    assert phone.settings.topic == push_cert.topic


# -- delivery --------------------------------------------------------------------------------------
def test_command_queued_through_the_api_reaches_apns_as_an_mdm_push(app, push_cert, enroll, http_api, worker,
                                                                   apns_standin, device_http):
    phone = enroll("user")
    device_id = _device_id(app, phone)
    _queue(http_api, device_id)
    assert [row.device_id for row in _outbox(app)] == [device_id], "recorded with the command"
    assert worker.run_once() == 1
    [push] = apns_standin.pushes_for(phone.push_token.hex())
    assert push.push_magic == phone.push_magic
    assert push.topic == push_cert.topic
    assert push.headers["apns-push-type"] == "mdm" and push.headers["apns-priority"] == "10"
    assert _outbox(app) == []
    assert [e.request_type for e in phone.poll(device_http)] == ["ProfileList"], "the woken phone fetches it"


def test_pushes_to_one_device_are_coalesced(app, push_cert, enroll, http_api, worker, apns_standin):
    phone = enroll("user")
    device_id = _device_id(app, phone)
    for request_type in ("ProfileList", "DeviceInformation", "ProfileList"):
        response = http_api("POST", f"/devices/{device_id}/commands",
                       json={"request_type": request_type, **({"Queries": ["OSVersion"]} if request_type == "DeviceInformation" else {})})
        assert response.status_code == 201
    assert len(_outbox(app)) == 1
    worker.run_once()
    assert len(apns_standin.pushes_for(phone.push_token.hex())) == 1


def test_unregistered_token_is_marked_dead_and_no_longer_pushed_until_token_update(
        app, push_cert, enroll, http_api, worker, apns_standin, admin_client, device_http):
    phone = enroll("user")
    device_id = _device_id(app, phone)
    apns_standin.unregister(phone.push_token.hex())
    _queue(http_api, device_id)
    worker.run_once()
    assert http_api("GET", f"/devices/{device_id}").json()["push"]["token_dead_at"] is not None
    assert _outbox(app) == []
    _queue(http_api, device_id)
    assert _outbox(app) == [], "a dead token is not pushed"
    assert worker.run_once() == 0
    assert "1 device(s) have a dead push token" in admin_client.get("/admin/").get_data(as_text=True)
    assert "Devices with a dead push token" in admin_client.get("/admin/push-certificate").get_data(as_text=True)
    phone.push_token = os.urandom(32)
    phone.checkin(phone.token_update_message(), device_http)
    assert http_api("GET", f"/devices/{device_id}").json()["push"]["token_dead_at"] is None
    _queue(http_api, device_id)
    assert worker.run_once() == 1
    assert len(apns_standin.pushes_for(phone.push_token.hex())) == 1


def test_throttling_server_errors_and_dropped_connections_are_retried_until_delivered_once(
        app, push_cert, enroll, http_api, worker, apns_standin):
    phones = [enroll("user", f"user{i}@example.org") for i in range(3)]
    for phone in phones:
        _queue(http_api, _device_id(app, phone))
    apns_standin.answer_next("TooManyRequests")
    apns_standin.answer_next("InternalServerError")
    apns_standin.drop_next()
    rounds = 0
    while _outbox(app):
        worker.run_once()
        _make_due(app)
        rounds += 1
        assert rounds < 10
    assert rounds >= 2
    for phone in phones:
        assert len(apns_standin.pushes_for(phone.push_token.hex())) == 1, "exactly once"


def test_retry_waits_for_its_backoff(app, push_cert, enroll, http_api, worker, apns_standin):
    phone = enroll("user")
    _queue(http_api, _device_id(app, phone))
    apns_standin.answer_next("ServiceUnavailable")
    before = utcnow()
    worker.run_once()
    [row] = _outbox(app)
    assert row.attempts == 1 and row.last_error == "503 ServiceUnavailable"
    # the first retry waits 0.5 to 1 s after the attempt: measured from before it, not from now, which a loaded host
    # can put past it
    assert row.next_attempt_at >= before + dt.timedelta(seconds=0.5)
    with app.app_context():  # still due later, however slow this host is: the worker leaves it
        db.session.execute(update(PushOutbox).values(next_attempt_at=utcnow() + dt.timedelta(minutes=1)))
        db.session.commit()
    assert worker.run_once() == 0, "not due yet"


def test_a_restarted_worker_delivers_what_was_recorded_before_it_died(app, push_cert, enroll, http_api, apns_standin):
    phones = [enroll("user", f"user{i}@example.org") for i in range(2)]
    for phone in phones:
        _queue(http_api, _device_id(app, phone))
    dying = PushWorker(app, lease=30)
    with app.app_context():
        assert len(dying._claim()) == 2  # claimed, then the process dies before sending
    successor = PushWorker(app)
    try:
        assert successor.run_once() == 0, "the dead worker's lease still holds"
        with app.app_context():
            db.session.execute(update(PushOutbox).values(claimed_until=utcnow() - dt.timedelta(seconds=1)))
            db.session.commit()
        assert successor.run_once() == 2
    finally:
        successor.close()
    for phone in phones:
        assert len(apns_standin.pushes_for(phone.push_token.hex())) == 1


def test_a_push_keeps_its_apns_id_when_sent_again_and_a_new_request_gets_another(app, push_cert, enroll, http_api,
                                                                               apns_standin):
    phone = enroll("user")
    device_id = _device_id(app, phone)
    _queue(http_api, device_id)

    def claim_after_the_lease() -> list:
        with app.app_context():
            db.session.execute(update(PushOutbox).values(claimed_until=utcnow() - dt.timedelta(seconds=1)))
            db.session.commit()
            return PushWorker(app)._claim()

    [first] = claim_after_the_lease()  # its worker dies after sending it
    [again] = claim_after_the_lease()
    assert again.push.apns_id == first.push.apns_id, "the same push, sent again"
    _queue(http_api, device_id)
    [newer] = claim_after_the_lease()
    assert newer.push.apns_id != first.push.apns_id, "a new request is a new push"
    with app.app_context():
        db.session.execute(update(PushOutbox).values(claimed_until=None))
        db.session.commit()
    worker = PushWorker(app)
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
    assert [p.apns_id for p in apns_standin.pushes_for(phone.push_token.hex())] == [newer.push.apns_id]


def test_a_request_during_an_inflight_push_is_not_lost(app, push_cert, enroll, http_api, worker, apns_standin):
    phone = enroll("user")
    device_id = _device_id(app, phone)
    _queue(http_api, device_id)
    with app.app_context():
        claimed = worker._claim()
    _queue(http_api, device_id)  # arrives while the first push is in flight
    with app.app_context():
        client = worker._sender()
        worker._settle(claimed, client.send_many([c.push for c in claimed]))
    assert len(_outbox(app)) == 1, "the newer request survives the older push's delivery"
    assert worker.run_once() == 1
    assert len(apns_standin.pushes_for(phone.push_token.hex())) == 2


def test_a_410_for_the_old_token_leaves_the_new_one_alive_and_pushes_it(app, push_cert, enroll, http_api, worker,
                                                                        apns_standin, device_http):
    """The phone sent a new token while a push to the old one was in flight: the 410 marked the new token dead,
    and nothing was pushed to the device until its next TokenUpdate."""
    phone = enroll("user")
    device_id = _device_id(app, phone)
    apns_standin.unregister(phone.push_token.hex())  # the phone was restored: its old token is gone
    _queue(http_api, device_id)
    with app.app_context():
        claimed = worker._claim()
    phone.push_token = os.urandom(32)
    phone.checkin(phone.token_update_message(), device_http)
    with app.app_context():
        worker._settle(claimed, worker._sender().send_many([c.push for c in claimed]))
        assert db.session.get(Device, device_id).push_token_dead_at is None
    assert worker.run_once() == 1, "the push waiting for the device goes to its new token"
    assert len(apns_standin.pushes_for(phone.push_token.hex())) == 1


def test_a_request_during_a_push_given_up_is_kept_with_tries_of_its_own(app, push_cert, enroll, http_api, worker,
                                                                         apns_standin):
    """The push failed its last attempt while a new command asked for one: both were deleted, the new command
    waited for whatever pushed the device next."""
    from portal.push.worker import MAX_ATTEMPTS

    phone = enroll("user")
    device_id = _device_id(app, phone)
    _queue(http_api, device_id)
    with app.app_context():
        db.session.execute(update(PushOutbox).values(attempts=MAX_ATTEMPTS - 1))
        db.session.commit()
        claimed = worker._claim()
    _queue(http_api, device_id, "CertificateList")
    apns_standin.answer_next("ServiceUnavailable")
    with app.app_context():
        worker._settle(claimed, worker._sender().send_many([c.push for c in claimed]))
    [row] = _outbox(app)
    assert row.attempts == 0 and row.claimed_until is None
    assert worker.run_once() == 1
    assert len(apns_standin.pushes_for(phone.push_token.hex())) == 1


def test_bad_certificate_raises_an_admin_alert_and_keeps_the_push(app, push_cert, enroll, http_api, worker,
                                                                  apns_standin, admin_client):
    phone = enroll("user")
    _queue(http_api, _device_id(app, phone))
    apns_standin.answer_next("BadCertificate")
    worker.run_once()
    assert len(_outbox(app)) == 1, "kept for when the certificate is fixed"
    assert "APNs refused the push certificate (BadCertificate)" in admin_client.get("/admin/").get_data(as_text=True)
    _make_due(app)
    worker.run_once()
    assert _outbox(app) == []
    assert "APNs refused" not in admin_client.get("/admin/").get_data(as_text=True), "a delivery clears the alert"


def test_expiring_certificate_is_warned_on_the_dashboard(app, admin_client, standin_pki):
    pki, _files = standin_pki
    soon = issue_push_certificate(pki.push_ca, not_after=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=12))
    with app.app_context():
        import_push_certificate(*pem_of(soon))
        db.session.commit()
    assert "The push certificate expires in 11 day(s)" in admin_client.get("/admin/").get_data(as_text=True)


def test_without_a_push_certificate_pushes_wait_in_the_outbox(app, enroll, http_api, worker, caplog, monkeypatch):
    # the in-process migration's logging.config.fileConfig disabled loggers that existed before it
    monkeypatch.setattr(logging.getLogger("portal.push.worker"), "disabled", False)
    phone = enroll("user")
    _queue(http_api, _device_id(app, phone))
    assert worker.run_once() == 0
    assert worker.run_once() == 0
    assert len(_outbox(app)) == 1
    assert sum("no push certificate imported" in r.getMessage() for r in caplog.records) == 1, "logged once"


@pytest.mark.parametrize("command", ["worker", "push-worker"])
def test_worker_command_and_its_former_name_drain_the_outbox(app, push_cert, enroll, http_api, runner, apns_standin,
                                                             command):
    phone = enroll("user")
    _queue(http_api, _device_id(app, phone))
    result = runner.invoke(args=[command, "--once"])
    assert result.exit_code == 0, result.output
    assert "1 push(es) attempted" in result.output
    assert len(apns_standin.pushes_for(phone.push_token.hex())) == 1
