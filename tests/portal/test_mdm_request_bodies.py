"""How the device endpoints read a body: a chunked one past the limit is refused whole with 413 (not cut
and then refused as badly signed), and a missing Content-Type is accepted (the body is verified and parsed
as a plist whatever the header says). Checked with the test client and with http.client against a real
server (Werkzeug's, which decodes chunked bodies and says so in ``wsgi.input_terminated`` as gunicorn does)."""
import base64
import http.client
import io
import threading

import pytest
from werkzeug.serving import make_server

from mdm_core import cms, plist

CHECKIN = ("/mdm/checkin", "application/x-apple-aspen-mdm-checkin")
CONNECT = ("/mdm/connect", "application/x-apple-aspen-mdm")


def _signature(identity, body) -> str:
    return base64.b64encode(cms.sign(body, identity, detached=True)).decode()


def _chunked(client, path, body, headers):
    """PUT ``body`` without Content-Length, as a server that decodes chunked bodies hands it on."""
    return client.put(path, input_stream=io.BytesIO(body), headers={"Transfer-Encoding": "chunked", **headers},
                      environ_overrides={"wsgi.input_terminated": True})


@pytest.fixture
def server(app):
    """The app on a free port, threaded, as a device reaches it: ``(host, port)``."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "127.0.0.1", httpd.server_port
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("path,content_type", [CHECKIN, CONNECT], ids=["checkin", "connect"])
def test_a_signed_chunked_body_past_the_limit_gets_413(app, enroll, client, path, content_type):
    phone = enroll()
    body = b"<" * (app.config["MAX_CONTENT_LENGTH"] + 1024 * 1024)
    response = _chunked(client, path, body, {"Content-Type": content_type,
                                             "Mdm-Signature": _signature(phone.identity, body)})
    assert response.status_code == 413, response.data
    assert f"larger than {app.config['MAX_CONTENT_LENGTH']} bytes" in response.get_data(as_text=True)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_signed_body_of_exactly_the_limit_is_read_whole(app, enroll, client, chunked):
    phone = enroll()
    body = b"<" * app.config["MAX_CONTENT_LENGTH"]
    headers = {"Content-Type": CONNECT[1], "Mdm-Signature": _signature(phone.identity, body)}
    response = _chunked(client, CONNECT[0], body, headers) if chunked else client.put(CONNECT[0], data=body,
                                                                                      headers=headers)
    assert response.status_code == 400  # verified whole, then refused as a plist too large
    assert "malformed command report" in response.get_data(as_text=True)


def test_a_body_one_byte_past_the_limit_with_its_length_gets_413(app, enroll, client):
    phone = enroll()
    body = b"<" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.put(CONNECT[0], data=body, headers={"Content-Type": CONNECT[1],
                                                          "Mdm-Signature": _signature(phone.identity, body)})
    assert response.status_code == 413


def test_reports_without_a_content_type_are_accepted_and_a_different_one_refused(enroll, client):
    phone = enroll()
    for path, message in ((CHECKIN[0], phone.token_update_message()), (CONNECT[0], phone.idle_report())):
        body = plist.dumps(message)
        signature = {"Mdm-Signature": _signature(phone.identity, body)}
        assert client.put(path, data=body, headers=signature).status_code == 200, path
        assert client.put(path, data=body, headers={**signature, "Content-Type": "text/plain"}).status_code == 415


def test_a_raw_http_client_gets_413_for_a_chunked_body_past_the_limit(app, enroll, server):
    phone = enroll()
    body = b"<" * (app.config["MAX_CONTENT_LENGTH"] + 1024 * 1024)
    connection = http.client.HTTPConnection(*server, timeout=60)
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))  # an iterable body goes chunked
    connection.request("PUT", CONNECT[0], body=chunks, headers={"Content-Type": CONNECT[1],
                                                                "Mdm-Signature": _signature(phone.identity, body)})
    response = connection.getresponse()
    assert response.status == 413, response.read()
    connection.close()


@pytest.mark.parametrize("path", [CHECKIN[0], CONNECT[0]], ids=["checkin", "connect"])
def test_a_raw_http_client_without_a_content_type_is_answered(enroll, server, path):
    phone = enroll()
    body = plist.dumps(phone.token_update_message() if path == CHECKIN[0] else phone.idle_report())
    connection = http.client.HTTPConnection(*server, timeout=60)
    connection.putrequest("PUT", path)
    connection.putheader("Content-Length", str(len(body)))
    connection.putheader("Mdm-Signature", _signature(phone.identity, body))
    connection.endheaders(body)
    response = connection.getresponse()
    assert response.status == 200, response.read()
    connection.close()
