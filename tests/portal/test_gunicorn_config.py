"""gunicorn.conf.py lets a standard SCEP client enroll a 4096-bit key with PKIOperation over GET: the
message rides in the query string, past gunicorn's default request-line limit (4094)."""
import base64
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mdm_core import ca, cms, plist
from mdm_core.scep import client as scep_client
from tests.helpers import REPO, TEST_SECRET

CONFIG = REPO / "gunicorn.conf.py"
GUNICORN_DEFAULT_LIMIT = 4094


def _config() -> dict:
    namespace: dict = {}
    exec(CONFIG.read_text(), namespace)
    return namespace


def _request_line(url: str, message: bytes) -> tuple[httpx.Request, int]:
    request = httpx.Request("GET", url, params={"operation": "PKIOperation",
                                                "message": base64.b64encode(message).decode()})
    return request, len(f"GET {request.url.raw_path.decode()} HTTP/1.1")


@pytest.fixture(scope="module")
def key_4096() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=4096)


def test_the_largest_get_of_a_4096_bit_key_fits_with_margin(key_4096, monkeypatch):
    """A 4096-bit CA and a 64-character organisation name: larger than anything we send."""
    monkeypatch.setattr(ca, "KEY_SIZE", 4096)
    authority = ca.create_ca("Device CA", "O" * 64)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "O" * 64),
                         x509.NameAttribute(NameOID.COMMON_NAME, "MDM Identity")])
    request = scep_client.build_pkcs_req(private_key=key_4096, subject=subject, challenge="c" * 64,
                                         ca_certificate=authority.certificate)
    _, length = _request_line("https://mdm.example.com/scep", request.message)
    assert GUNICORN_DEFAULT_LIMIT < length < 0.8 * _config()["limit_request_line"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(app, database_url, tmp_path):
    """The portal under gunicorn with gunicorn.conf.py, on the tests' database: its base URL."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET,
           "PUBLIC_URL": app.config["PUBLIC_URL"], "PYTHONPATH": str(REPO)}
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(CONFIG),
                               "--bind", f"127.0.0.1:{port}", "--workers", "1", "wsgi:app"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz within 60 s"
            time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _scep_challenge(profile: bytes) -> str:
    payloads = plist.loads(cms.verify(profile).content)["PayloadContent"]
    [scep] = [p for p in payloads if p["PayloadType"] == "com.apple.security.scep"]
    return scep["PayloadContent"]["Challenge"]


def test_a_4096_bit_key_enrolls_by_get_pki_operation_under_gunicorn(app, client, api_token, gunicorn, key_4096):
    profile = client.post("/api/v1/enrollment-profiles", headers={"Authorization": f"Bearer {api_token()}"},
                          json={"enrollment_type": "user", "managed_apple_id": "alice@example.org"})
    assert profile.status_code == 201, profile.data
    ca_certificate = x509.load_der_x509_certificate(httpx.get(f"{gunicorn}/scep?operation=GetCACert").content)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MDM Identity")])
    pkcs_req = scep_client.build_pkcs_req(private_key=key_4096, subject=subject,
                                          challenge=_scep_challenge(profile.data), ca_certificate=ca_certificate)
    request, length = _request_line(f"{gunicorn}/scep", pkcs_req.message)
    assert length > GUNICORN_DEFAULT_LIMIT
    with httpx.Client(timeout=60) as http:
        response = http.send(request)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/x-pki-message"
    certificate = scep_client.parse_cert_rep(response.content, pkcs_req, ca_certificate)
    assert certificate.public_key() == key_4096.public_key()
