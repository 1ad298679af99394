"""What a server serves behind an asset's DataURL is checked before it is stored: certificates, JSON data,
and Apple's credential documents (a PKCS #12 that opens with its password, its key derivation bounded)."""
import base64
import json
import os

import pytest
from asn1crypto import cms, core, keys
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat, pkcs12

from mdm_core.ddm import assets
from mdm_core.ddm.assets import AssetDataError, credential_document, data_content_type, read_credential


def test_a_certificate_asset_takes_one_certificate_and_is_named_pem_or_pkcs1(ca_identity):
    certificate = ca_identity.certificate
    assert data_content_type(assets.CERTIFICATE, certificate.public_bytes(Encoding.PEM), None) == "application/pem"
    assert data_content_type(assets.CERTIFICATE, certificate.public_bytes(Encoding.DER), None) == "application/pkcs1"
    with pytest.raises(AssetDataError, match="X.509"):
        data_content_type(assets.CERTIFICATE, b"-----BEGIN CERTIFICATE-----\nnope", None)
    with pytest.raises(AssetDataError, match="application/pkcs1"):
        data_content_type(assets.CERTIFICATE, certificate.public_bytes(Encoding.DER), "application/pem")


def test_a_json_data_asset_must_be_json_and_other_data_is_taken_as_it_is():
    assert data_content_type(assets.DATA, b'{"a": 1}', "application/json") == "application/json"
    assert data_content_type(assets.DATA, b"\xff\x00", None) == "application/octet-stream"
    for data in (b"{nope", b"[" * 100_000, b"\xff"):
        with pytest.raises(AssetDataError, match="not JSON"):
            data_content_type(assets.DATA, data, "application/vnd.example+json")


def test_a_user_name_and_password_follow_apples_schema_and_only_the_user_name_is_filled_in():
    credential = read_credential(assets.USER_PASSWORD, {"UserName": "$EMAIL", "Password": "$EMAIL"})
    document = credential_document(assets.USER_PASSWORD, credential,
                                   lambda part: {key: value.replace("$EMAIL", "a@example.org") for key, value in part.items()})
    assert json.loads(document) == {"UserName": "a@example.org", "Password": "$EMAIL"}
    for bad, message in (({"Password": "x"}, "missing required key"), ({"UserName": "a", "Colour": 1}, "unknown key"),
                         ({"UserName": ["a"]}, "must be a string"), ("a:b", "JSON object"),
                         ({"UserName": "a" * 70_000}, "at most")):
        with pytest.raises(AssetDataError, match=message):
            read_credential(assets.USER_PASSWORD, bad)
    with pytest.raises(AssetDataError, match="only for"):
        read_credential(assets.DATA, {"UserName": "a"})


def test_an_identity_must_open_with_its_password_and_ask_for_bounded_key_derivation(ca_identity, monkeypatch):
    certificate, key = ca_identity.certificate, ca_identity.private_key
    p12 = base64.b64encode(pkcs12.serialize_key_and_certificates(b"x", key, certificate, None,
                                                                 BestAvailableEncryption(b"right"))).decode()
    assert read_credential(assets.IDENTITY, {"Password": "right", "Identity": p12})["Identity"] == p12
    with pytest.raises(AssetDataError, match="does not open"):
        read_credential(assets.IDENTITY, {"Password": "wrong", "Identity": p12})
    with pytest.raises(AssetDataError, match="not a PKCS #12"):
        read_credential(assets.IDENTITY, {"Password": "x", "Identity": base64.b64encode(b"0\x03\x02\x01\x00").decode()})
    costly = pkcs12.serialize_key_and_certificates(
        b"x", key, certificate, None, PrivateFormat.PKCS12.encryption_builder().kdf_rounds(5000)
        .hmac_hash(hashes.SHA256()).build(b"right"))
    monkeypatch.setattr(assets, "MAX_PKCS12_ITERATIONS", 4000)
    with pytest.raises(AssetDataError, match="key derivation rounds"):
        read_credential(assets.IDENTITY, {"Password": "right", "Identity": base64.b64encode(costly).decode()})


def _key_bag_nested_in_safe_contents(iterations: int, depth: int, keys_: int = 1) -> bytes:
    """A PKCS #12 (no MAC) whose ``keys_`` keys sit ``depth`` safeContents bags deep, each asking for ``iterations``
    rounds."""
    kdf = {"algorithm": "pbkdf2", "parameters": {"salt": ("specified", os.urandom(8)), "iteration_count": iterations,
                                                  "prf": {"algorithm": "sha256"}}}
    key = keys.EncryptedPrivateKeyInfo({"encryption_algorithm": {"algorithm": "pbes2", "parameters": {
        "key_derivation_func": kdf, "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": os.urandom(16)}}},
        "encrypted_data": os.urandom(64)})
    bags = asn1_pkcs12.SafeContents([{"bag_id": "pkcs8_shrouded_key_bag", "bag_value": key}] * keys_)
    for _ in range(depth):
        bags = asn1_pkcs12.SafeContents([{"bag_id": "safe_contents", "bag_value": bags}])
    authenticated = asn1_pkcs12.AuthenticatedSafe([cms.ContentInfo({"content_type": "data",
                                                                      "content": core.OctetString(bags.dump())})])
    return asn1_pkcs12.Pfx({"version": 3, "auth_safe": {"content_type": "data",
                                                        "content": core.OctetString(authenticated.dump())}}).dump()


def test_a_key_nested_in_safe_contents_bags_is_counted_too(monkeypatch):
    """OpenSSL decrypts a key however deep its safeContents bags nest it: 2**31 rounds there would cost minutes."""
    monkeypatch.setattr(assets, "MAX_PKCS12_ITERATIONS", 4000)
    for depth in (1, 3, 30):
        bomb = base64.b64encode(_key_bag_nested_in_safe_contents(5000, depth)).decode()
        with pytest.raises(AssetDataError, match="key derivation rounds"):
            read_credential(assets.IDENTITY, {"Password": "x", "Identity": bomb})


def test_many_keys_each_under_the_limit_are_refused_by_their_total(monkeypatch):
    """Hundreds of keys at the per-derivation limit fit in a few kilobytes; OpenSSL would derive every one."""
    monkeypatch.setattr(assets, "MAX_PKCS12_ITERATIONS", 4000)
    monkeypatch.setattr(assets, "MAX_PKCS12_TOTAL_ITERATIONS", 16000)
    many = base64.b64encode(_key_bag_nested_in_safe_contents(4000, 1, keys_=5)).decode()
    with pytest.raises(AssetDataError, match="rounds in all"):
        read_credential(assets.IDENTITY, {"Password": "x", "Identity": many})
    few = base64.b64encode(_key_bag_nested_in_safe_contents(4000, 1, keys_=4)).decode()
    with pytest.raises(AssetDataError) as refused:
        read_credential(assets.IDENTITY, {"Password": "x", "Identity": few})
    assert "rounds" not in str(refused.value), "within the total, the file is refused only for what it is"
