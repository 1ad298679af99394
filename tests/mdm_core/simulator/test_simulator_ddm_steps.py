"""The DDM client's requests built and answers read as separate steps (what ``benchmarks/ddm_sync.py`` does
to sign ahead of time and read afterwards) leave the device exactly as a live ``sync`` does."""
from __future__ import annotations

import pytest

from mdm_core import plist
from mdm_core.simulator.ddm import DdmProtocolError
from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE
from tests.mdm_core.simulator.test_simulator_ddm import (  # noqa: F401 (the fixtures)
    MAIL,
    ddm,
    ddm_http,
    enrolled,
    mail,
    sync,
    with_assets,
    with_mail,
)


def signed(device, endpoint, data=None):
    """Sign a request now; the answer is sent for later, as the benchmark does."""
    body = plist.dumps(device.ddm.message(device, endpoint, data))
    return body, device.headers(body, CHECKIN_CONTENT_TYPE)


def send(http, device, prepared):
    answers = []
    for body, headers in prepared:
        response = http.put(device.settings.checkin_url, content=body, headers=headers)
        assert response.status_code == 200
        answers.append(response.content)
    return answers


def sync_in_steps(device, http):
    """Every request of a step signed first, then sent, then every answer read."""
    client = device.ddm
    [tokens] = send(http, device, [signed(device, "tokens")])
    assert client.read_tokens(tokens) != client.declarations_token
    [items] = send(http, device, [signed(device, "declaration-items")])
    manifest = client.read_manifest(items)
    wanted = client.changed(manifest)
    answers = send(http, device, [signed(device, f"declaration/{kind}/{identifier}") for kind, identifier in wanted])
    for (kind, identifier), content in zip(wanted, answers):
        client.hold(device, http, client.read_declaration(kind, identifier, content))
    client.adopt(manifest)
    client.sync_pending = False
    client.apply(device)
    status = client.status_document(device)
    send(http, device, [signed(device, "status", status.body)])
    client.reported_now(status)


def state(device):
    client = device.ddm
    return (client.declarations_token, client.held, dict(client.requests), client.fetched, client.reports,
            client.reported, client.asset_data, client.outcome.states)


@pytest.mark.parametrize(("declarations", "edit"), [
    (with_mail, lambda ddm: ddm.put("mail", MAIL, mail("Renamed"))),
    (with_assets, lambda ddm: ddm.put("test", "com.apple.configuration.management.test",
                                      {"Echo": "bye", "EchoDataAssetReference": "notes"})),
])
def test_a_sync_in_separate_steps_leaves_the_device_as_a_live_sync(ddm, ddm_http, declarations, edit):  # noqa: F811
    declarations(ddm)
    live, stepped = enrolled(ddm, ddm_http), enrolled(ddm, ddm_http)
    sync(ddm, live, ddm_http)
    reports = len(ddm.status_reports)
    sync_in_steps(stepped, ddm_http)
    assert len(ddm.status_reports) == reports + 1
    assert ddm.status_reports[-1].full_report and ddm.status_reports[-1].declarations
    assert state(stepped) == state(live)
    assert stepped.ddm.requests["declaration"] == len(stepped.ddm.fetched) >= 4
    assert stepped.ddm.status_document(stepped) is None, "reported_now: nothing changed since"

    edit(ddm)
    for device in (live, stepped):  # a later live sync fetches the one edited declaration on both
        fetched = len(device.ddm.fetched)
        sync(ddm, device, ddm_http)
        assert len(device.ddm.fetched) == fetched + 1 and not ddm.status_reports[-1].full_report
    assert state(stepped) == state(live)


def test_answers_read_apart_are_checked_as_a_live_sync_checks_them(ddm, ddm_http):  # noqa: F811
    with_mail(ddm)
    device = enrolled(ddm, ddm_http)
    client = device.ddm
    with pytest.raises(DdmProtocolError, match="tokens: the server's answer is not JSON"):
        client.read_tokens(b"<html>")
    with pytest.raises(DdmProtocolError, match="not a DeclarationItemsResponse"):
        client.read_manifest(b'{"Declarations": {}}')
    [content] = send(ddm_http, device, [signed(device, "declaration/configuration/mail")])
    with pytest.raises(DdmProtocolError, match="declaration identity is not a declaration document"):
        client.read_declaration("asset", "identity", content)
    assert client.read_declaration("configuration", "mail", content).server_token
    assert (client.fetched, dict(client.requests)) == (["mail"], {"declaration": 1})
