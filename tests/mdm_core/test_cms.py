import shutil
import time
import subprocess

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mdm_core import ca, cms, der

BODY = b"<?xml version=\"1.0\"?>\n<plist><dict><key>Status</key><string>Idle</string></dict></plist>\n"

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory, device_identity):
    directory = tmp_path_factory.mktemp("pem")
    cert = directory / "signer.pem"
    key = directory / "signer.key"
    cert.write_bytes(device_identity.certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        device_identity.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key


def _openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=30)


def _openssl_sign(cert, key, tmp_path, *extra: str) -> bytes:
    content = tmp_path / "content"
    content.write_bytes(BODY)
    result = _openssl(
        "cms", "-sign", "-binary", "-in", str(content), "-signer", str(cert), "-inkey", str(key),
        "-outform", "DER", *extra,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _openssl_verify(signed: bytes, tmp_path, content: bytes | None = None) -> subprocess.CompletedProcess:
    signature = tmp_path / "signature.der"
    signature.write_bytes(signed)
    args = ["cms", "-verify", "-binary", "-noverify", "-inform", "DER", "-in", str(signature)]
    if content is not None:
        data = tmp_path / "detached"
        data.write_bytes(content)
        args += ["-content", str(data)]
    return _openssl(*args)


def test_embedded_signature_returns_content_and_signer(device_identity):
    result = cms.verify(cms.sign(BODY, device_identity))
    assert result.content == BODY
    assert result.signer == device_identity.certificate
    assert result.certificates == [device_identity.certificate]
    assert result.digest_algorithm == "sha256"


def test_detached_signature_verifies_against_given_content(device_identity):
    signed = cms.sign(BODY, device_identity, detached=True)
    assert BODY not in signed
    assert cms.verify(signed, detached_content=BODY).signer == device_identity.certificate


def test_detached_signature_without_content_is_refused(device_identity):
    with pytest.raises(cms.CMSError, match="detached"):
        cms.verify(cms.sign(BODY, device_identity, detached=True))


def test_extra_certificates_are_carried(device_identity, ca_identity):
    result = cms.verify(cms.sign(BODY, device_identity, extra_certs=[ca_identity.certificate]))
    assert ca_identity.certificate in result.certificates
    assert result.signer == device_identity.certificate


def test_signed_attributes_are_readable(device_identity):
    result = cms.verify(cms.sign(BODY, device_identity))
    content_type = result.signed_attribute("1.2.840.113549.1.9.3")
    assert content_type == bytes.fromhex("06092a864886f70d010701")  # id-data
    assert result.signed_attribute("2.16.840.1.113733.1.9.2") is None


def test_content_changed_after_signing_is_refused(device_identity):
    signed = cms.sign(BODY, device_identity, detached=True)
    with pytest.raises(cms.SignatureMismatchError, match="message digest"):
        cms.verify(signed, detached_content=BODY.replace(b"Idle", b"Idla"))


def test_tampered_signature_value_is_refused(device_identity):
    signed = bytearray(cms.sign(BODY, device_identity))
    signed[-1] ^= 0x01  # the RSA signature is the last field of the only SignerInfo
    with pytest.raises(cms.SignatureMismatchError, match="signature is not valid"):
        cms.verify(bytes(signed))


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not cms at all", b"\x30\x03\x02\x01\x01", bytes.fromhex("3080") * 4],
)
def test_garbage_is_refused_with_cms_error(garbage):
    with pytest.raises(cms.CMSError):
        cms.verify(garbage, detached_content=BODY)


def test_truncated_signature_is_refused(device_identity):
    signed = cms.sign(BODY, device_identity)
    with pytest.raises(cms.CMSError):
        cms.verify(signed[: len(signed) // 2])


def test_other_content_types_are_refused():
    data_content_info = bytes.fromhex("300f06092a864886f70d010701a0020400")
    with pytest.raises(cms.CMSError, match="not a CMS SignedData"):
        cms.verify(data_content_info)


def test_signer_missing_from_certificates_is_refused(device_identity):
    without_certs = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(BODY)
        .add_signer(device_identity.certificate, device_identity.private_key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCerts])
    )
    with pytest.raises(cms.CMSError, match="signer's certificate is not in the signature"):
        cms.verify(without_certs)


def test_is_cms_sniffs_signed_data_only(device_identity):
    assert cms.is_cms(cms.sign(BODY, device_identity))
    assert cms.is_cms(cms.sign(b"x" * 70_000, device_identity))  # three-byte length
    assert not cms.is_cms(BODY)
    assert not cms.is_cms(b"bplist00")
    assert not cms.is_cms(b"")
    assert not cms.is_cms(bytes.fromhex("300f06092a864886f70d010701a0020400"))


@needs_openssl
@pytest.mark.parametrize("detached", [False, True])
def test_openssl_verifies_our_signature(device_identity, tmp_path, detached):
    signed = cms.sign(BODY, device_identity, detached=detached)
    result = _openssl_verify(signed, tmp_path, BODY if detached else None)
    assert result.returncode == 0, result.stderr
    assert result.stdout == BODY


@needs_openssl
def test_openssl_refuses_our_signature_over_tampered_content(device_identity, tmp_path):
    signed = cms.sign(BODY, device_identity, detached=True)
    assert _openssl_verify(signed, tmp_path, BODY + b" ").returncode != 0


@needs_openssl
@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
def test_we_verify_openssl_signatures(pem_files, tmp_path, device_identity, digest):
    signed = _openssl_sign(*pem_files, tmp_path, "-md", digest, "-nodetach")
    result = cms.verify(signed)
    assert result.content == BODY
    assert result.digest_algorithm == digest
    assert result.signer == device_identity.certificate


@needs_openssl
def test_we_verify_openssl_detached_signature_and_refuse_tampering(pem_files, tmp_path):
    signed = _openssl_sign(*pem_files, tmp_path)
    assert cms.verify(signed, detached_content=BODY).content == BODY
    with pytest.raises(cms.SignatureMismatchError):
        cms.verify(signed, detached_content=BODY + b" ")


@needs_openssl
def test_we_verify_signatures_without_signed_attributes(pem_files, tmp_path):
    signed = _openssl_sign(*pem_files, tmp_path, "-noattr")
    assert cms.verify(signed, detached_content=BODY).content == BODY
    with pytest.raises(cms.SignatureMismatchError):
        cms.verify(signed, detached_content=BODY + b" ")


@needs_openssl
def test_we_find_signer_by_subject_key_identifier(pem_files, tmp_path, device_identity):
    signed = _openssl_sign(*pem_files, tmp_path, "-keyid")
    assert cms.verify(signed, detached_content=BODY).signer == device_identity.certificate


@needs_openssl
def test_we_verify_ecdsa_signatures(ca_identity, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec-device")])
    certificate = ca.issue_certificate(ca_identity, key.public_key(), subject, days=1)
    ours = cms.sign(BODY, ca.Identity(certificate, key), detached=True)
    assert cms.verify(ours, detached_content=BODY).signer == certificate
    assert _openssl_verify(ours, tmp_path, BODY).returncode == 0


def test_signer_is_found_again_from_the_cache_whatever_the_certificate_order(device_identity, ca_identity):
    first = cms.sign(b"one", device_identity, detached=True, extra_certs=[ca_identity.certificate])
    again = cms.sign(b"two", device_identity, detached=True, extra_certs=[ca_identity.certificate])
    assert cms.verify(first, detached_content=b"one").signer == device_identity.certificate
    assert cms.verify(again, detached_content=b"two").signer == device_identity.certificate
    ca_signed = cms.sign(b"three", ca_identity, detached=True, extra_certs=[device_identity.certificate])
    assert cms.verify(ca_signed, detached_content=b"three").signer == ca_identity.certificate


@needs_openssl
@pytest.mark.parametrize("extra", [("-nodetach",), ("-nodetach", "-noattr"), ("-nodetach", "-keyid")])
def test_we_verify_openssl_streamed_ber_signatures(pem_files, tmp_path, device_identity, extra):
    signed = _openssl_sign(*pem_files, tmp_path, "-stream", *extra)
    assert signed.startswith(bytes.fromhex("3080"))  # indefinite lengths, as Apple devices send too
    result = cms.verify(signed)
    assert result.content == BODY
    assert result.signer == device_identity.certificate
    with pytest.raises(cms.SignatureMismatchError):
        cms.verify(signed, detached_content=BODY + b" ")


@needs_openssl
def test_streamed_content_in_segments_is_joined(pem_files, tmp_path):
    content = tmp_path / "large"
    content.write_bytes(b"0123456789" * 1000)
    signed = _openssl(
        "cms", "-sign", "-binary", "-stream", "-nodetach", "-in", str(content), "-signer", str(pem_files[0]),
        "-inkey", str(pem_files[1]), "-outform", "DER",
    ).stdout
    assert bytes.fromhex("a0802480") in signed  # eContent as a constructed OCTET STRING
    assert cms.verify(signed).content == b"0123456789" * 1000


def _asn1crypto_signer_info(signed: bytes):
    return asn1_cms.ContentInfo.load(signed)["content"]["signer_infos"][0]


@needs_openssl
def test_signed_attributes_match_asn1crypto(pem_files, tmp_path, device_identity):
    for signed in (cms.sign(BODY, device_identity), _openssl_sign(*pem_files, tmp_path, "-stream", "-nodetach")):
        result = cms.verify(signed)
        attributes = _asn1crypto_signer_info(signed)["signed_attrs"]
        assert len(attributes) >= 3
        for attribute in attributes:
            assert result.signed_attribute(attribute["type"].dotted) == attribute["values"][0].dump()


@needs_openssl
def test_subject_key_identifier_signer_has_no_signed_attributes_when_asked(pem_files, tmp_path, device_identity):
    signed = _openssl_sign(*pem_files, tmp_path, "-keyid", "-noattr", "-nodetach")
    assert _asn1crypto_signer_info(signed)["sid"].name == "subject_key_identifier"
    result = cms.verify(signed)
    assert result.signer == device_identity.certificate
    assert result.signed_attribute("1.2.840.113549.1.9.3") is None


def test_every_truncation_is_refused_with_cms_error(device_identity):
    signed = cms.sign(BODY, device_identity, detached=True)
    for length in range(len(signed)):
        with pytest.raises(cms.CMSError):
            cms.verify(signed[:length], detached_content=BODY)


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("producer", ["ours", "openssl-keyid", "openssl-stream"])
def test_every_single_byte_change_is_refused_or_harmless(device_identity, pem_files, tmp_path, producer):
    detached = BODY
    if producer == "ours":
        signed = cms.sign(BODY, device_identity, detached=True)
    elif shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    elif producer == "openssl-keyid":
        signed = _openssl_sign(*pem_files, tmp_path, "-keyid")
    else:
        signed, detached = _openssl_sign(*pem_files, tmp_path, "-stream", "-nodetach"), None
    certificate = device_identity.certificate.public_bytes(serialization.Encoding.DER)
    certificate_start = signed.index(certificate)
    accepted_outside_certificate = []
    for position in range(len(signed)):
        for flip in (0x01, 0x80):
            changed = bytearray(signed)
            changed[position] ^= flip
            try:
                result = cms.verify(bytes(changed), detached_content=detached)
            except cms.CMSError:
                continue
            # The certificate is outside the signature (the caller checks its issuer), its key is not.
            assert result.signer.public_key() == device_identity.certificate.public_key()
            if not certificate_start <= position < certificate_start + len(certificate):
                accepted_outside_certificate.append(position)
    # What remains are fields no signature covers: versions, digestAlgorithms, eContentType.
    assert len(set(accepted_outside_certificate)) < 40, sorted(set(accepted_outside_certificate))


def test_trailing_garbage_is_refused(device_identity):
    signed = cms.sign(BODY, device_identity, detached=True)
    with pytest.raises(cms.CMSError, match="unexpected element"):
        cms.verify(signed + b"\x00", detached_content=BODY)


def test_non_minimal_length_is_refused(device_identity):
    signed = cms.sign(BODY, device_identity, detached=True)
    assert signed[1] == 0x82
    padded = b"\x30\x83\x00" + signed[2:]
    with pytest.raises(cms.CMSError, match="not minimally encoded"):
        cms.verify(padded, detached_content=BODY)


@pytest.mark.parametrize(
    "hostile",
    [
        bytes.fromhex("3084ffffffff06092a864886f70d010702"),
        bytes.fromhex("308006092a864886f70d010702a080") + bytes.fromhex("3080") * 100_000,
        bytes.fromhex("308006092a864886f70d010702a080") + bytes.fromhex("2480") * 100_000,
        bytes.fromhex("300d06092a864886f70d010702a000"),
    ],
)
def test_hostile_structures_are_refused_quickly(hostile):
    started = time.process_time()
    with pytest.raises(cms.CMSError):
        cms.verify(hostile, detached_content=BODY)
    assert time.process_time() - started < 1


def test_unsupported_digest_algorithm_is_named(device_identity):
    sha256, sha224 = bytes.fromhex("0609608648016503040201"), bytes.fromhex("0609608648016503040204")
    signed = cms.sign(BODY, device_identity, detached=True).replace(sha256, sha224)
    with pytest.raises(cms.CMSError, match=r"unsupported digest algorithm 2\.16\.840\.1\.101\.3\.4\.2\.4"):
        cms.verify(signed, detached_content=BODY)


def test_signature_algorithm_must_fit_the_signer_key(device_identity):
    info = asn1_cms.ContentInfo.load(cms.sign(BODY, device_identity, detached=True))
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}
    with pytest.raises(cms.CMSError, match="ecdsa does not fit a RSAPublicKey"):
        cms.verify(info.dump(force=True), detached_content=BODY)


@needs_openssl
def test_signer_fingerprint_is_the_certificates_sha256(device_identity, ca_identity, pem_files, tmp_path):
    expected = device_identity.certificate.fingerprint(hashes.SHA256())
    ours = cms.sign(BODY, device_identity, extra_certs=[ca_identity.certificate])
    for signed in (ours, ours, _openssl_sign(*pem_files, tmp_path, "-keyid", "-nodetach")):  # twice: cached
        assert cms.verify(signed).signer_fingerprint == expected
    ca_signed = cms.sign(BODY, ca_identity, extra_certs=[device_identity.certificate])
    assert cms.verify(ca_signed).signer_fingerprint == ca_identity.certificate.fingerprint(hashes.SHA256())


def test_malformed_signed_attributes_are_reported_when_read(device_identity):
    result = cms.verify(cms.sign(BODY, device_identity))
    broken = cms.SignedContent(
        result.content, result.signer, result.certificates, result.digest_algorithm, result.signer_fingerprint,
        _signed_attrs=bytes.fromhex("3005060300"),
    )
    with pytest.raises(cms.CMSError, match="signed attributes are malformed"):
        broken.signed_attribute("1.2.840.113549.1.9.3")


def _with_indefinite_outer_layers(signed: bytes) -> bytes:
    """The same signature shaped like Apple devices send it: indefinite lengths down to encapContentInfo."""
    _, start, stop, _ = der.read(signed, 0, len(signed))
    (_, oid, _, _, oid_end), (_, _, explicit, explicit_end, _) = der.children(signed, start, stop)
    _, signed_data, signed_data_end, _ = der.read(signed, explicit, explicit_end)
    fields = [
        b"\x30\x80" + signed[content:end] + b"\x00\x00" if tag == der.SEQUENCE else signed[offset:after]
        for tag, offset, content, end, after in der.children(signed, signed_data, signed_data_end)
    ]
    return b"\x30\x80" + signed[oid:oid_end] + b"\xa0\x80\x30\x80" + b"".join(fields) + b"\x00\x00" * 3


def test_apple_shaped_ber_signature_verifies_like_asn1crypto_reads_it(device_identity):
    signed = _with_indefinite_outer_layers(cms.sign(BODY, device_identity, detached=True))
    assert signed.startswith(bytes.fromhex("308006092a864886f70d010702a0803080"))
    assert cms.is_cms(signed)
    assert asn1_cms.ContentInfo.load(signed)["content"]["encap_content_info"]["content"].native is None
    assert cms.verify(signed, detached_content=BODY).signer == device_identity.certificate
    with pytest.raises(cms.SignatureMismatchError):
        cms.verify(signed, detached_content=BODY + b" ")
    for length in range(len(signed)):
        with pytest.raises(cms.CMSError):
            cms.verify(signed[:length], detached_content=BODY)


def test_encapsulated_content_reads_a_signature_that_does_not_verify(device_identity):
    signed = bytearray(cms.sign(b"the content", device_identity))
    signed[signed.index(b"the content")] = ord("T")
    with pytest.raises(cms.SignatureMismatchError):
        cms.verify(bytes(signed))
    assert cms.encapsulated_content(bytes(signed)) == b"The content"
    with pytest.raises(cms.CMSError, match="detached"):
        cms.encapsulated_content(cms.sign(b"x", device_identity, detached=True))
    with pytest.raises(cms.CMSError):
        cms.encapsulated_content(b"\x30\x00")


def test_content_type_names_signed_and_enveloped_data(device_identity):
    enveloped = (pkcs7.PKCS7EnvelopeBuilder().set_data(b"secret").add_recipient(device_identity.certificate)
                 .encrypt(serialization.Encoding.DER, []))
    assert cms.content_type(cms.sign(b"x", device_identity)) == "1.2.840.113549.1.7.2"
    assert cms.content_type(enveloped) == "1.2.840.113549.1.7.3"
    assert cms.content_type(b"<?xml") is None and cms.content_type(b"") is None
