import base64
import shutil
import subprocess
import threading
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AttributeOID, NameOID

from mdm_core import ca
from mdm_core.scep import SCEPError, client, server
from mdm_core.scep.message import MessageType, build_pki_message, parse_pki_message
from tests.helpers import with_unknown_key_algorithm

CHALLENGE = "one-time-challenge"
SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "enrollment-42")])
SCEPCLIENT = "/usr/bin/scepclient"


def _only(challenge):
    seen = []

    def authorize(given, csr):
        seen.append((given, csr))
        return given == challenge

    authorize.seen = seen
    return authorize


def _request(ca_identity, key, **kwargs):
    return client.build_pkcs_req(
        private_key=key, subject=SUBJECT, challenge=kwargs.pop("challenge", CHALLENGE),
        ca_certificate=ca_identity.certificate, **kwargs,
    )


def _resign(request: client.PKCSRequest, content: bytes, signer: ca.Identity, message_type=MessageType.PKCS_REQ) -> bytes:
    return build_pki_message(
        content, signer, message_type=message_type,
        transaction_id=request.transaction_id, sender_nonce=request.sender_nonce,
    )


def test_capabilities_advertise_only_what_we_support():
    assert server.get_ca_caps().decode().split("\n") == ["AES", "POSTPKIOperation", "SHA-256", "SCEPStandard"]


def test_ca_cert_is_served_as_der(ca_identity):
    body, content_type = server.get_ca_cert(ca_identity)
    assert content_type == "application/x-x509-ca-cert"
    assert x509.load_der_x509_certificate(body) == ca_identity.certificate


@pytest.mark.parametrize("digest", ["sha256", "sha1"])
def test_round_trip_issues_certificate_for_the_requested_key(ca_identity, device_key, digest):
    request = _request(ca_identity, device_key, digest=digest)
    authorize = _only(CHALLENGE)
    result = server.handle_pki_operation(request.message, ca_identity, authorize=authorize, days=30)

    assert (result.status, result.fail_reason) == ("SUCCESS", None)
    assert result.transaction_id == request.transaction_id
    assert [given for given, _ in authorize.seen] == [CHALLENGE]
    assert authorize.seen[0][1].subject == SUBJECT
    certificate = client.parse_cert_rep(result.response, request, ca_identity.certificate)
    assert certificate == result.certificate
    certificate.verify_directly_issued_by(ca_identity.certificate)
    assert certificate.public_key() == device_key.public_key()
    assert certificate.subject == SUBJECT


def test_issued_identity_is_valid_as_long_as_the_ca_by_default(ca_identity, device_key):
    request = _request(ca_identity, device_key)
    result = server.handle_pki_operation(request.message, ca_identity, authorize=_only(CHALLENGE))
    assert result.certificate.not_valid_after_utc == ca_identity.certificate.not_valid_after_utc


def test_cert_rep_carries_the_scep_attributes(ca_identity, device_key):
    request = _request(ca_identity, device_key)
    result = server.handle_pki_operation(request.message, ca_identity, authorize=_only(CHALLENGE))
    reply = parse_pki_message(result.response)
    assert reply.message_type == "3" and reply.pki_status == "0"
    assert reply.recipient_nonce == request.sender_nonce
    assert reply.sender_nonce and reply.sender_nonce != request.sender_nonce
    assert reply.signer == ca_identity.certificate


def test_custom_issuer_is_used(ca_identity, device_key):
    issued = []

    def issue(csr):
        issued.append(csr)
        return ca.issue_certificate(ca_identity, csr.public_key(), csr.subject, days=1, serial=777)

    request = _request(ca_identity, device_key)
    result = server.handle_pki_operation(request.message, ca_identity, authorize=_only(CHALLENGE), issue=issue)
    assert client.parse_cert_rep(result.response, request, ca_identity.certificate).serial_number == 777
    assert len(issued) == 1


def test_wrong_challenge_gets_a_failure_the_client_understands(ca_identity, device_key):
    request = _request(ca_identity, device_key, challenge="guess")
    result = server.handle_pki_operation(request.message, ca_identity, authorize=_only(CHALLENGE))
    assert (result.status, result.fail_reason, result.certificate) == ("FAILURE", "badRequest", None)
    reply = parse_pki_message(result.response)
    assert (reply.pki_status, reply.fail_info) == ("2", "2")
    with pytest.raises(SCEPError, match="refused the request: badRequest"):
        client.parse_cert_rep(result.response, request, ca_identity.certificate)


def _separate_signer() -> ca.Identity:
    """A self-signed certificate of a key other than the one being certified."""
    return ca.create_ca("SCEP SIGNER", "Device")


def _certificate_in(result, signer: ca.Identity) -> x509.Certificate:
    """The certificate a CertRep envelopes to ``signer``, the certificate that signed the request."""
    degenerate = pkcs7.pkcs7_decrypt_der(parse_pki_message(result.response).content, signer.certificate,
                                         signer.private_key, [])
    [certificate] = pkcs7.load_der_pkcs7_certificates(degenerate)
    return certificate


def test_request_signed_by_a_separate_self_signed_key_is_answered_to_that_key(ca_identity, device_key):
    """RFC 8894 section 2.3: the signer SHOULD (not must) be the key being certified; the CSR's own
    signature proves possession of it."""
    request = _request(ca_identity, device_key)
    signer = _separate_signer()
    message = _resign(request, parse_pki_message(request.message).content, signer)
    authorize = _only(CHALLENGE)
    result = server.handle_pki_operation(message, ca_identity, authorize=authorize)
    assert (result.status, result.fail_reason) == ("SUCCESS", None)
    assert [given for given, _ in authorize.seen] == [CHALLENGE]
    certificate = _certificate_in(result, signer)
    assert certificate == result.certificate
    assert certificate.public_key() == device_key.public_key() != signer.private_key.public_key()


def test_a_csr_whose_own_signature_fails_is_refused_before_the_challenge(ca_identity, device_key):
    csr = x509.CertificateSigningRequestBuilder().subject_name(SUBJECT).add_attribute(
        AttributeOID.CHALLENGE_PASSWORD, CHALLENGE.encode()
    ).sign(device_key, hashes.SHA256())
    forged = bytearray(csr.public_bytes(serialization.Encoding.DER))
    forged[-1] ^= 0x01  # the last byte of the CSR's signature
    enveloped = pkcs7.PKCS7EnvelopeBuilder().set_data(bytes(forged)).add_recipient(ca_identity.certificate) \
        .set_content_encryption_algorithm(algorithms.AES256).encrypt(serialization.Encoding.DER,
                                                                     [pkcs7.PKCS7Options.Binary])
    request = _request(ca_identity, device_key)
    authorize = _only(CHALLENGE)
    result = server.handle_pki_operation(_resign(request, enveloped, _separate_signer()), ca_identity,
                                         authorize=authorize)
    assert (result.status, result.fail_reason) == ("FAILURE", "badMessageCheck")
    assert authorize.seen == []


def test_a_csr_whose_key_algorithm_cryptography_cannot_load_is_refused_as_bad_alg(ca_identity, device_key):
    """Anyone may post one (the challenge is read after the CSR): UnsupportedAlgorithm was a 500."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = x509.CertificateSigningRequestBuilder().subject_name(SUBJECT).add_attribute(
        AttributeOID.CHALLENGE_PASSWORD, CHALLENGE.encode()).sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.DER)
    enveloped = pkcs7.PKCS7EnvelopeBuilder().set_data(with_unknown_key_algorithm(der)).add_recipient(
        ca_identity.certificate).set_content_encryption_algorithm(algorithms.AES256).encrypt(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    authorize = _only(CHALLENGE)
    result = server.handle_pki_operation(_resign(_request(ca_identity, device_key), enveloped, _separate_signer()),
                                         ca_identity, authorize=authorize)
    assert (result.status, result.fail_reason) == ("FAILURE", "badAlg")
    assert authorize.seen == []


def test_request_encrypted_to_another_ca_fails(ca_identity, foreign_ca_identity, device_key):
    request = _request(foreign_ca_identity, device_key)
    result = server.handle_pki_operation(request.message, ca_identity, authorize=_only(CHALLENGE))
    assert (result.status, result.fail_reason) == ("FAILURE", "badMessageCheck")


def test_other_message_types_are_refused(ca_identity, device_key):
    request = _request(ca_identity, device_key)
    envelope = parse_pki_message(request.message).content
    message = _resign(request, envelope, request.signer, MessageType.GET_CERT)
    result = server.handle_pki_operation(message, ca_identity, authorize=_only(CHALLENGE))
    assert (result.status, result.fail_reason) == ("FAILURE", "badRequest")


def test_tampered_message_is_refused(ca_identity, device_key):
    message = bytearray(_request(ca_identity, device_key).message)
    message[len(message) // 2] ^= 0xFF
    with pytest.raises(SCEPError):
        server.handle_pki_operation(bytes(message), ca_identity, authorize=_only(CHALLENGE))


@pytest.mark.parametrize("garbage", [b"", b"hello", b"\x30\x80\x00\x00"])
def test_garbage_is_refused(ca_identity, garbage):
    with pytest.raises(SCEPError):
        server.handle_pki_operation(garbage, ca_identity, authorize=_only(CHALLENGE))


def test_get_message_parameter_tolerates_unescaped_plus(ca_identity, device_key):
    message = _request(ca_identity, device_key).message
    encoded = base64.b64encode(message).decode()
    assert "+" in encoded or "/" in encoded
    assert server.message_from_query(encoded.replace("+", " ")) == message
    with pytest.raises(SCEPError, match="not base64"):
        server.message_from_query("%%%")


def test_cert_rep_from_another_ca_is_refused(ca_identity, foreign_ca_identity, device_key):
    request = _request(ca_identity, device_key)
    result = server.handle_pki_operation(request.message, foreign_ca_identity, authorize=_only(CHALLENGE))
    with pytest.raises(SCEPError):
        client.parse_cert_rep(result.response, request, ca_identity.certificate)


def test_cert_rep_for_another_transaction_is_refused(ca_identity, device_key):
    first, second = _request(ca_identity, device_key), _request(ca_identity, device_key)
    result = server.handle_pki_operation(first.message, ca_identity, authorize=_only(CHALLENGE))
    with pytest.raises(SCEPError, match="does not answer this request"):
        client.parse_cert_rep(result.response, second, ca_identity.certificate)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
@pytest.mark.parametrize("cipher_args", [["-des3"], ["-aes128", "-stream"]])
def test_des3_and_ber_streamed_envelopes_are_decrypted(ca_identity, device_key, tmp_path, cipher_args):
    request = _request(ca_identity, device_key)
    csr = x509.CertificateSigningRequestBuilder().subject_name(SUBJECT).add_attribute(
        AttributeOID.CHALLENGE_PASSWORD, CHALLENGE.encode()
    ).sign(device_key, hashes.SHA256())
    (tmp_path / "ca.pem").write_bytes(ca_identity.certificate.public_bytes(serialization.Encoding.PEM))
    encrypted = subprocess.run(
        ["openssl", "cms", "-encrypt", "-binary", *cipher_args, "-outform", "DER", str(tmp_path / "ca.pem")],
        input=csr.public_bytes(serialization.Encoding.DER), capture_output=True, check=True, timeout=30,
    ).stdout
    message = _resign(request, encrypted, request.signer)
    result = server.handle_pki_operation(message, ca_identity, authorize=_only(CHALLENGE))
    assert result.status == "SUCCESS"
    assert client.parse_cert_rep(result.response, request, ca_identity.certificate).subject == SUBJECT


def _scep_app(ca_identity, authorize):
    """A throwaway WSGI mapping of the SCEP operations onto mdm_core.scep.server."""

    def app(environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        operation = query.get("operation", [""])[0]
        if operation == "GetCACaps":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [server.get_ca_caps()]
        if operation == "GetCACert":
            body, content_type = server.get_ca_cert(ca_identity)
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        if operation == "PKIOperation":
            if environ["REQUEST_METHOD"] == "POST":
                message = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            else:
                message = server.message_from_query(query.get("message", [""])[0])
            try:
                result = server.handle_pki_operation(message, ca_identity, authorize=authorize)
            except SCEPError:
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"bad request"]
            start_response("200 OK", [("Content-Type", server.PKI_MESSAGE_CONTENT_TYPE)])
            return [result.response]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b""]

    return app


def test_enroll_over_http(ca_identity, device_key):
    wsgi = _scep_app(ca_identity, _only(CHALLENGE))
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi), base_url="http://mdm.test") as http:
        certificate = client.enroll(
            http, "http://mdm.test/scep", challenge=CHALLENGE, private_key=device_key, subject=SUBJECT
        )
    certificate.verify_directly_issued_by(ca_identity.certificate)
    assert certificate.public_key() == device_key.public_key()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def scep_server(ca_identity):
    authorize = _only(CHALLENGE)
    httpd = make_server("127.0.0.1", 0, _scep_app(ca_identity, authorize), handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/scep", authorize
    httpd.shutdown()
    httpd.server_close()


def _run_scepclient(url, challenge, directory):
    return subprocess.run(
        [SCEPCLIENT, "-server-url", url, "-challenge", challenge, "-cn", "interop-device",
         "-private-key", str(directory / "key.pem"), "-certificate", str(directory / "cert.pem")],
        capture_output=True, text=True, timeout=60, cwd=directory,
    )


@pytest.mark.skipif(not shutil.which(SCEPCLIENT), reason="Debian package scep (scepclient) not installed")
def test_independent_scepclient_enrolls_against_our_server(scep_server, ca_identity, tmp_path):
    url, authorize = scep_server
    run = _run_scepclient(url, CHALLENGE, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    certificate = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    certificate.verify_directly_issued_by(ca_identity.certificate)
    key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), None)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "interop-device"
    assert [given for given, _ in authorize.seen] == [CHALLENGE]


@pytest.mark.skipif(not shutil.which(SCEPCLIENT), reason="Debian package scep (scepclient) not installed")
def test_independent_scepclient_reads_our_refusal(scep_server, tmp_path):
    url, _ = scep_server
    run = _run_scepclient(url, "wrong", tmp_path)
    assert run.returncode != 0
    assert "badRequest" in run.stdout + run.stderr
    assert not (tmp_path / "cert.pem").exists()


@pytest.mark.skipif(not shutil.which(SCEPCLIENT), reason="Debian package scep (scepclient) not installed")
def test_independent_scepclient_signing_with_a_separate_key_enrolls(scep_server, ca_identity, device_key, tmp_path):
    """scepclient signs with its own key (key.pem, a self-signed "SCEP SIGNER" certificate) and sends the
    CSR it finds in csr.pem as it is: here one for another key, carrying the challenge."""
    url, authorize = scep_server
    csr = x509.CertificateSigningRequestBuilder().subject_name(SUBJECT).add_attribute(
        AttributeOID.CHALLENGE_PASSWORD, CHALLENGE.encode()
    ).sign(device_key, hashes.SHA256())
    (tmp_path / "csr.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    run = _run_scepclient(url, CHALLENGE, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    certificate = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    certificate.verify_directly_issued_by(ca_identity.certificate)
    signing_key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), None)
    assert certificate.public_key() == device_key.public_key() != signing_key.public_key()
    assert certificate.subject == SUBJECT
    assert [given for given, _ in authorize.seen] == [CHALLENGE]
