"""The manifest, tokens and command documents, and the check-in Endpoint parser."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import yaml

from mdm_core.ddm import DdmError
from mdm_core.ddm.documents import (
    Endpoint,
    Item,
    declaration_items,
    declarations_token,
    parse_endpoint,
    sync_command,
    tokens_document,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
PROTOCOL = REPO_ROOT / ".." / "shared" / "apple-device-management" / "declarative" / "protocol"
ITEMS = [Item("com.apple.configuration.account.mail", "mail-1", "t1"),
         Item("com.apple.asset.useridentity", "identity-1", "t2"),
         Item("com.apple.activation.simple", "activation-1", "t3"),
         Item("com.apple.management.organization-info", "org", "t4")]
WHEN = datetime.datetime(2025, 3, 1, 12, 30, tzinfo=datetime.timezone.utc)


def schema_keys(name):
    document = yaml.safe_load((PROTOCOL / name).read_text())
    return {key["key"]: key for key in document["payloadkeys"]}


@pytest.mark.skipif(not PROTOCOL.is_dir(), reason="../shared schemas absent")
def test_manifest_has_the_keys_of_declarationitemsresponse():
    keys = schema_keys("declarationitemsresponse.yaml")
    manifest = declaration_items(ITEMS)
    assert set(manifest) == set(keys)
    lists = {key["key"] for key in keys["Declarations"]["subkeys"]}
    assert set(manifest["Declarations"]) == lists
    item_keys = {key["key"] for key in keys["Declarations"]["subkeys"][0]["subkeys"][0]["subkeys"]}
    for entries in manifest["Declarations"].values():
        assert all(set(entry) == item_keys for entry in entries)


@pytest.mark.skipif(not PROTOCOL.is_dir(), reason="../shared schemas absent")
def test_tokens_document_has_the_keys_of_tokensresponse():
    assert set(tokens_document("abc", WHEN)) == set(schema_keys("tokensresponse.yaml"))


def test_manifest_lists_each_declaration_under_its_kind():
    manifest = declaration_items(ITEMS)
    assert manifest["Declarations"] == {
        "Activations": [{"Identifier": "activation-1", "ServerToken": "t3"}],
        "Assets": [{"Identifier": "identity-1", "ServerToken": "t2"}],
        "Configurations": [{"Identifier": "mail-1", "ServerToken": "t1"}],
        "Management": [{"Identifier": "org", "ServerToken": "t4"}],
    }
    assert manifest["DeclarationsToken"] == declarations_token(ITEMS)


def test_an_unknown_type_cannot_go_in_a_manifest():
    with pytest.raises(DdmError, match="unknown declaration type"):
        declaration_items([Item("com.example.x", "a", "b")])


def test_declarations_token_is_the_same_for_the_same_set_and_moves_with_any_change():
    token = declarations_token(ITEMS)
    assert token == declarations_token(reversed(ITEMS))
    assert token != declarations_token(ITEMS[:-1])
    assert token != declarations_token([*ITEMS[:-1], ITEMS[-1]._replace(server_token="t5")])
    assert declarations_token([]) == declarations_token([])


def test_tokens_document_and_command_carry_the_same_sync_tokens():
    document = tokens_document("abc", WHEN)
    assert document == {"SyncTokens": {"DeclarationsToken": "abc", "Timestamp": "2025-03-01T12:30:00Z"}}
    command = sync_command("abc", WHEN)
    assert command["RequestType"] == "DeclarativeManagement"
    assert isinstance(command["Data"], bytes) and json.loads(command["Data"]) == document


def test_a_naive_timestamp_is_refused():
    with pytest.raises(ValueError):
        tokens_document("abc", datetime.datetime(2025, 1, 1))


@pytest.mark.parametrize(("endpoint", "parsed"), [
    ("tokens", Endpoint("tokens")),
    ("declaration-items", Endpoint("declaration-items")),
    ("status", Endpoint("status")),
    ("declaration/configuration/mail-1", Endpoint("declaration", "configuration", "mail-1")),
    ("declaration/asset/identity-1", Endpoint("declaration", "asset", "identity-1")),
    ("declaration/activation/a", Endpoint("declaration", "activation", "a")),
    ("declaration/management/org", Endpoint("declaration", "management", "org")),
])
def test_endpoints_a_device_asks_for(endpoint, parsed):
    assert parse_endpoint(endpoint) == parsed


@pytest.mark.parametrize(("endpoint", "message"), [
    ("", "non-empty string"),
    (None, "non-empty string"),
    (b"tokens", "non-empty string"),
    ("Tokens", "unknown Endpoint"),
    ("declarations", "unknown Endpoint"),
    ("declaration/configuration", "declaration/<kind>/<identifier>"),
    ("declaration//mail-1", "declaration/<kind>/<identifier>"),
    ("declaration/configuration/a/b", "declaration/<kind>/<identifier>"),
    ("declaration/com.apple.configuration.account.mail/mail-1", "the kind one of"),
    ("declaration/configurations/mail-1", "the kind one of"),
    ("declaration/configuration/..", "identifier"),
    ("declaration/configuration/" + "x" * 65, "identifier"),
    ("tokens" * 100, "longer than"),
])
def test_bad_endpoints_are_ddm_errors(endpoint, message):
    with pytest.raises(DdmError, match=message):
        parse_endpoint(endpoint)
