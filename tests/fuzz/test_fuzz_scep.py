"""Fuzzing SCEP ``PKIOperation`` (POST and GET) with malformed pkiMessages: raw bytes, truncated or
flipped requests, correctly signed messages of every message type with hostile attributes, contents that
are not envelopes or envelope no CSR, CSRs with hostile challenges, and garbage base64."""
from __future__ import annotations

import base64
from types import SimpleNamespace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AttributeOID, NameOID
from hypothesis import given, strategies as st

from mdm_core.scep.client import build_pkcs_req
from mdm_core.scep.message import build_pki_message
from portal.pki import device_ca
from tests.fuzz.device_requests import Invariants
from tests.fuzz.harness import Cases, fuzz_settings
from tests.fuzz.strategies import KEY, SIGNER, SUBJECT, hostile_text

SCEP = "/scep"
MESSAGE_TYPES = st.sampled_from(["3", "17", "19", "19", "19", "20", "21", "22"]) | hostile_text()
_BYTES = st.binary(max_size=300)


def _csr(challenge: bytes, common_name: str) -> bytes:
    try:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    except ValueError:
        subject = SUBJECT
    return (x509.CertificateSigningRequestBuilder().subject_name(subject)
            .add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge).sign(KEY, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER))


def _envelope(data: bytes, recipient: x509.Certificate) -> bytes:
    return (pkcs7.PKCS7EnvelopeBuilder().set_data(data).add_recipient(recipient)
            .set_content_encryption_algorithm(algorithms.AES256)
            .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))


@st.composite
def pki_messages(draw, ca_certificate: x509.Certificate, valid: bytes) -> bytes:
    """A DER pkiMessage, from raw bytes to a correctly signed one with hostile parts; ``valid`` is a
    PKCSReq with a wrong challenge. (Built once: its self-signed certificate's random serial changes its
    length, and a strategy must draw alike when replayed.)"""
    form = draw(st.sampled_from(("raw", "truncated", "flipped", "signed", "signed", "signed", "signed")))
    if form == "raw":
        return draw(_BYTES)
    if form == "truncated":
        return valid[:draw(st.integers(0, len(valid) - 1))]
    if form == "flipped":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    content_form = draw(st.sampled_from(("none", "bytes", "envelope-of-bytes", "csr", "csr", "truncated-envelope")))
    if content_form == "none":
        content = None
    elif content_form == "bytes":
        content = draw(_BYTES)
    elif content_form == "envelope-of-bytes":
        content = _envelope(draw(_BYTES) or b"x", ca_certificate)
    else:
        challenge = draw(hostile_text()).encode("utf-8")  # cryptography writes UTF-8 challenges only
        content = _envelope(_csr(challenge, draw(hostile_text())), ca_certificate)
        if content_form == "truncated-envelope":
            content = content[:draw(st.integers(0, len(content) - 1))]
    try:
        return build_pki_message(content, SIGNER, message_type=SimpleNamespace(value=draw(MESSAGE_TYPES)),
                                 transaction_id=draw(hostile_text()), sender_nonce=draw(st.binary(max_size=32)),
                                 digest=draw(st.sampled_from(("sha1", "sha256"))))
    except ValueError:  # asn1crypto cannot encode that attribute: send the bytes as they are
        return content or b""


def _query_message(message: bytes, form: str, garbage: str) -> str:
    encoded = base64.b64encode(message).decode()
    return {"base64": encoded, "spaces": encoded.replace("+", " "), "urlsafe": base64.urlsafe_b64encode(message).decode(),
            "truncated": encoded[:len(encoded) // 2 + 1], "garbage": garbage, "huge": encoded * 20}[form]


def test_scep_pki_operation(app, client, no_rate_limits, tracebacks):
    with app.app_context():
        ca_certificate = device_ca().certificate
    valid = build_pkcs_req(private_key=KEY, subject=SUBJECT, challenge="wrong", ca_certificate=ca_certificate).message

    @fuzz_settings()
    @given(message=pki_messages(ca_certificate, valid),
           content_type=st.sampled_from(["application/x-pki-message"] * 4 + [None, "text/plain"]))
    def post_case(message, content_type):
        headers = {} if content_type is None else {"Content-Type": content_type}
        invariants.check(client.post(f"{SCEP}?operation=PKIOperation", data=message, headers=headers),
                              allowed=frozenset({200, 400, 413}))

    @fuzz_settings()
    @given(message=pki_messages(ca_certificate, valid),
           form=st.sampled_from(("base64", "base64", "spaces", "urlsafe", "truncated", "garbage", "huge")),
           garbage=hostile_text(surrogates=False), operation=st.sampled_from(["PKIOperation"] * 8 + ["", "pkioperation"]))
    def get_case(message, form, garbage, operation):
        response = client.get(SCEP, query_string={"operation": operation,
                                                  "message": _query_message(message, form, garbage)})
        invariants.check(response, allowed=frozenset({200, 400}))

    for endpoint, case in (("POST /scep PKIOperation", post_case), ("GET /scep PKIOperation", get_case)):
        with Cases(endpoint) as cases:
            invariants = Invariants(app, cases, tracebacks, None)
            case()
