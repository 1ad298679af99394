"""The APNs client against the stand-in over real TLS and HTTP/2: what it sends, how answers
are classified, and how it spreads pushes over its connections."""
import io
import os
import ssl
import threading
import time

import httpx
import pytest

from mdm_core.apns.certificate import load_push_certificate
from mdm_core.apns.client import (MAX_REASON_CHARS, BlockingApnsClient, Disposition, MdmPush, PushResult,
                                  answer_reason, client_ssl_context, disposition, retry_delay)


@pytest.fixture(scope="module")
def push_certificate(standin_pki):
    _pki, files = standin_pki
    return load_push_certificate(files["push_cert"].read_bytes(), files["push_key"].read_bytes())


def _client(apns_standin, push_certificate, standin_pki, **options):
    _pki, files = standin_pki
    client = BlockingApnsClient(apns_standin.endpoint, client_ssl_context(push_certificate, str(files["server_ca"])),
                                push_certificate.topic, **options)
    yield client
    client.close()


@pytest.fixture
def client(apns_standin, push_certificate, standin_pki):
    yield from _client(apns_standin, push_certificate, standin_pki, max_connections=4)


def _token() -> str:
    return os.urandom(32).hex()


def test_mdm_push_reaches_apns_with_path_headers_and_body(client, apns_standin, push_certificate):
    token = _token()
    [result] = client.send_many([MdmPush(token, "6A1F-MAGIC", expiration=1_900_000_000)])
    assert result.delivered and result.apns_id
    [received] = apns_standin.pushes_for(token)
    assert received.push_magic == "6A1F-MAGIC"
    assert received.headers[":path"] == f"/3/device/{token}"
    assert received.headers["apns-topic"] == push_certificate.topic
    assert received.headers["apns-push-type"] == "mdm"
    assert received.headers["apns-priority"] == "10"
    assert received.headers["apns-expiration"] == "1900000000"
    assert result.apns_id == received.apns_id, "APNs echoes the apns-id it assigned"


def test_a_push_with_its_own_apns_id_keeps_it(client, apns_standin):
    token, apns_id = _token(), "0F8C8A4E-3A52-5E0A-9B1E-5F1C2D3E4A5B"
    [result] = client.send_many([MdmPush(token, "m", apns_id=apns_id)])
    assert result.apns_id == apns_id == apns_standin.pushes_for(token)[0].apns_id


def test_unregistered_token_answers_410_and_is_classified_dead(client, apns_standin):
    token = _token()
    apns_standin.unregister(token)
    [result] = client.send_many([MdmPush(token, "m")])
    assert (result.status, result.reason) == (410, "Unregistered")
    assert disposition(result) is Disposition.TOKEN_DEAD
    assert apns_standin.pushes_for(token) == []


@pytest.mark.parametrize("reason,status", [("TooManyRequests", 429), ("InternalServerError", 500),
                                           ("ServiceUnavailable", 503)])
def test_throttling_and_server_errors_are_retried(client, apns_standin, reason, status):
    apns_standin.answer_next(reason)
    [result] = client.send_many([MdmPush(_token(), "m")])
    assert (result.status, result.reason) == (status, reason)
    assert disposition(result) is Disposition.RETRY


def test_dropped_connection_fails_its_pushes_as_retryable_and_the_next_send_reconnects(client, apns_standin):
    apns_standin.drop_next()
    [lost] = client.send_many([MdmPush(_token(), "m")])
    assert lost.status is None and disposition(lost) is Disposition.RETRY
    [again] = client.send_many([MdmPush(_token(), "m")])
    assert again.delivered


def test_standin_holds_answers_until_released(client, apns_standin):
    token, results = _token(), []
    apns_standin.hold()
    sending = threading.Thread(target=lambda: results.extend(client.send_many([MdmPush(token, "m")])))
    sending.start()
    deadline = time.monotonic() + 10
    while apns_standin.held < 1:
        assert time.monotonic() < deadline, "the push never reached the stand-in"
        time.sleep(0.01)
    time.sleep(0.1)
    assert sending.is_alive() and apns_standin.pushes_for(token) == [], "held: not answered yet"
    apns_standin.release()
    sending.join(10)
    assert [r.delivered for r in results] == [True]
    assert len(apns_standin.pushes_for(token)) == 1
    [again] = client.send_many([MdmPush(_token(), "m")])
    assert again.delivered and apns_standin.held == 0, "no longer holding"


@pytest.fixture
def impatient(apns_standin, push_certificate, standin_pki):
    """A client whose pushes time out after 2 s."""
    yield from _client(apns_standin, push_certificate, standin_pki, timeout=2.0)


def _send_in_background(client) -> tuple[threading.Thread, list]:
    results = []
    sending = threading.Thread(target=lambda: results.extend(client.send_many([MdmPush(_token(), "m")])), daemon=True)
    sending.start()
    return sending, results


def test_a_push_under_way_when_apns_shuts_down_gracefully_still_times_out(impatient, apns_standin):
    """GOAWAY stopped the timeout watchdog while the push it let finish was still unanswered: send_many never
    returned, and with it the whole worker (push, mail, apps) stood still."""
    apns_standin.hold()
    sending, results = _send_in_background(impatient)
    deadline = time.monotonic() + 10
    while apns_standin.held < 1:
        assert time.monotonic() < deadline, "the push never reached the stand-in"
        time.sleep(0.01)
    apns_standin.goaway()
    sending.join(8)
    assert not sending.is_alive(), "send_many hung"
    assert results[0].reason == "timeout" and disposition(results[0]) is Disposition.RETRY


def test_a_server_allowing_no_stream_fails_the_push_as_retryable_in_its_timeout(impatient, apns_standin):
    """HTTP/2 lets a server allow no stream for a while (SETTINGS_MAX_CONCURRENT_STREAMS 0): the push waited for
    room forever."""
    apns_standin.max_streams = 0
    sending, results = _send_in_background(impatient)
    sending.join(8)
    assert not sending.is_alive(), "send_many hung"
    assert results[0].reason == "timeout" and disposition(results[0]) is Disposition.RETRY
    apns_standin.max_streams = 1000
    [later] = impatient.send_many([MdmPush(_token(), "m")])
    assert later.delivered, later


def test_bad_certificate_is_not_retried_blindly():
    result = PushResult(MdmPush("aa", "m"), 403, "BadCertificate")
    assert disposition(result) is Disposition.BAD_CERTIFICATE
    assert disposition(PushResult(MdmPush("aa", "m"), 400, "BadDeviceToken")) is Disposition.TOKEN_DEAD
    assert disposition(PushResult(MdmPush("aa", "m"), 400, "TopicDisallowed")) is Disposition.REJECTED


def test_many_pushes_share_at_most_the_configured_connections(client, apns_standin):
    pushes = [MdmPush(_token(), "m") for _ in range(600)]
    results = client.send_many(pushes)
    assert all(r.delivered for r in results)
    assert [r.push for r in results] == pushes
    assert 1 < apns_standin.connections <= 4
    assert apns_standin.accepted == 600


def test_connections_stay_open_between_batches(client, apns_standin):
    client.send_many([MdmPush(_token(), "m")])
    client.send_many([MdmPush(_token(), "m")])
    assert apns_standin.connections == 1


def test_unreachable_endpoint_gives_retryable_results(push_certificate, standin_pki):
    _pki, files = standin_pki
    ssl_context = client_ssl_context(push_certificate, str(files["server_ca"]))
    client = BlockingApnsClient("https://127.0.0.1:9", ssl_context, push_certificate.topic, connect_timeout=2)
    try:
        [result] = client.send_many([MdmPush(_token(), "m")])
    finally:
        client.close()
    assert result.status is None and "cannot connect" in result.reason
    assert disposition(result) is Disposition.RETRY


def test_backoff_grows_and_is_capped():
    assert 0.5 <= retry_delay(1) <= 1.0
    assert 4.0 <= retry_delay(4) <= 8.0
    assert retry_delay(30) <= 300


def test_standin_checks_requests_like_apns(apns_standin, push_certificate, standin_pki):
    _pki, files = standin_pki
    context = client_ssl_context(push_certificate, str(files["server_ca"]))
    with httpx.Client(http2=True, verify=context, base_url=apns_standin.endpoint) as http:
        def post(path=f"/3/device/{_token()}", body=b'{"mdm":"m"}', **headers):
            base = {"apns-topic": push_certificate.topic, "apns-push-type": "mdm"}
            return http.post(path, content=body, headers={**base, **headers})

        assert post().status_code == 200 and post().content == b""
        assert post(**{"apns-topic": "com.apple.mgmt.other"}).json()["reason"] == "TopicDisallowed"
        assert post(**{"apns-push-type": "alert"}).json()["reason"] == "InvalidPushType"
        assert post(**{"apns-priority": "1"}).json()["reason"] == "BadPriority"
        assert post(path="/3/device/xyz").json()["reason"] == "BadDeviceToken"
        assert post(path="/2/device/aa").status_code == 404
        assert post(body=b"").json()["reason"] == "PayloadEmpty"
        assert post(body=b"x" * 5000).status_code == 413
        assert http.get(f"/3/device/{_token()}").status_code == 405


def test_standin_requires_a_client_certificate_from_the_push_ca(apns_standin, standin_pki):
    _pki, files = standin_pki
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=str(files["server_ca"]))) as http:
        with pytest.raises(httpx.TransportError):
            http.post(f"{apns_standin.endpoint}/3/device/{_token()}", content=b'{"mdm":"m"}')


def test_push_log_records_each_answered_push_with_its_time_status_and_token(push_certificate, standin_pki):
    from mdm_core.apns.standin import Standin

    _pki, files = standin_pki
    log = io.StringIO()
    standin = Standin(files["server_cert"], files["server_key"], files["push_ca"], push_log=log).start()
    accepted, dead = _token(), _token()
    standin.unregister(dead)
    before = time.time()
    try:
        context = client_ssl_context(push_certificate, str(files["server_ca"]))
        client = BlockingApnsClient(standin.endpoint, context, push_certificate.topic)
        client.send_many([MdmPush(accepted, "m"), MdmPush(dead, "m")])
        client.close()
        with httpx.Client(http2=True, verify=context, base_url=standin.endpoint) as http:
            http.post("/3/device/not-a-token", content=b'{"mdm":"m"}',
                      headers={"apns-topic": push_certificate.topic, "apns-push-type": "mdm"})
    finally:
        standin.stop()
    lines = [line.split() for line in log.getvalue().splitlines()]
    assert sorted(line[1:] for line in lines) == sorted([["200", accepted], ["410", dead], ["400", "-"]])
    assert all(before <= float(line[0]) <= time.time() for line in lines)


@pytest.mark.parametrize("body,reason", [
    (b'{"reason": "BadDeviceToken"}', "BadDeviceToken"),
    (b'{"reason": {"BadCertificate": 1}}', None),  # unhashable: the disposition's set lookup raised TypeError
    (b'{"reason": ' + b"[" * 100_000, None),  # json.loads raised RecursionError
    (b'{"reason": "' + b"x" * 5000 + b'"}', None),  # longer than any APNs answer
    (b'{"reason": "' + b"y" * 1000 + b'"}', "y" * MAX_REASON_CHARS),
    (b"[1]", None), (b"\xff", None), (b"", None),
])
def test_only_a_short_string_reason_is_read_from_an_apns_answer(body, reason):
    assert answer_reason(body) == reason
    disposition(PushResult(MdmPush("00", "m"), 400, answer_reason(body)))
