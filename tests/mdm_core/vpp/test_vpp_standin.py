"""The stand-in's own refusals, in Apple's status codes and errorNumbers, over raw HTTPS."""
from __future__ import annotations

import ssl
import subprocess
import sys

import httpx
import pytest


@pytest.fixture
def http(vpp_standin):
    with httpx.Client(base_url=vpp_standin.url, verify=ssl.create_default_context(cafile=vpp_standin.ca_bundle),
                      headers={"Authorization": f"Bearer {vpp_standin.stoken}"}) as client:
        yield client


def _refusal(response):
    return response.status_code, response.json()["errorNumber"]


def test_service_config_needs_no_token_but_everything_else_does(vpp_standin, http):
    assert httpx.get(vpp_standin.url + "service/config", verify=ssl.create_default_context(
        cafile=vpp_standin.ca_bundle)).status_code == 200
    assert _refusal(http.get("client/config", headers={"Authorization": "Token x"})) == (401, 9722)
    assert _refusal(http.get("client/config", headers={"Authorization": "Bearer wrong"})) == (401, 9601)


@pytest.mark.parametrize("method, path, kwargs, expected", [
    ("PUT", "assets", {}, (405, 9726)),
    ("POST", "users/create", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, (400, 9727)),
    ("POST", "users/create", {"content": b"{nope", "headers": {"Content-Type": "application/json"}}, (400, 9602)),
    ("POST", "users/create", {"json": {"users": []}}, (400, 9720)),
    ("POST", "users/create", {"json": {"users": [{"clientUserId": "a"}, {"clientUserId": "a"}]}}, (400, 9715)),
    ("POST", "assets/associate", {"json": {"clientUserIds": ["a"]}}, (400, 9718)),
    ("POST", "assets/associate", {"json": {"assets": [{"adamId": "1"}]}}, (400, 9719)),
    ("POST", "assets/associate", {"json": {"assets": [{"adamId": "1"}], "clientUserIds": ["a", "a"]}}, (400, 9704)),
    ("POST", "assets/associate", {"json": {"assets": [{"adamId": "1"}] * 2, "clientUserIds": ["a"]}}, (400, 9703)),
    ("POST", "assets/associate", {"json": {"assets": [{"adamId": str(i)} for i in range(26)],
                                           "clientUserIds": ["a"]}}, (400, 9700)),
    ("GET", "status", {"params": {"eventId": "nope"}}, (400, 9708)),
    ("GET", "assets", {"params": {"pageIndex": "3"}}, (400, 9650)),
])
def test_bad_requests_get_apples_error_numbers(http, method, path, kwargs, expected):
    assert _refusal(http.request(method, path, **kwargs)) == expected


def test_an_oversized_body_is_refused_413(http):
    response = http.post("users/create", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_the_token_expiry_and_uid_come_with_every_answer(vpp_standin, http):
    body = http.get("client/config").json()
    assert body["uId"] == vpp_standin.state.uid and body["tokenExpirationDate"].endswith("+0000")


def test_the_command_line_explains_itself():
    result = subprocess.run([sys.executable, "-m", "mdm_core.vpp.standin", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "--demo" in result.stdout and "--asset" in result.stdout


def test_lookup_answers_in_the_itunes_format_for_the_locations_apps(vpp_standin):
    vpp_standin.state.add_asset("361309726")
    body = httpx.get(vpp_standin.root_url + "/lookup", params={"id": "361309726,1"},
                     verify=ssl.create_default_context(cafile=vpp_standin.ca_bundle)).json()
    assert body["resultCount"] == 1
    assert body["results"][0]["trackId"] == 361309726
    assert body["results"][0]["bundleId"] == "com.example.store.361309726"


def test_a_phone_in_another_process_can_ask_whether_its_user_holds_a_license(vpp_standin, http):
    from mdm_core.vpp.standin import remote_license_check

    vpp_standin.state.add_asset("361309726", total_count=1)
    vpp_standin.state.manage_users("create", {"users": [{"clientUserId": "a", "managedAppleId": "a@example.org"}]})
    vpp_standin.state.manage_assets("associate", {"assets": [{"adamId": "361309726"}], "clientUserIds": ["a"]})
    check = remote_license_check(vpp_standin.root_url, vpp_standin.ca_bundle)
    assert check("A@example.org", "361309726") is True
    assert check("b@example.org", "361309726") is False and check("a@example.org", "1") is False
    assert http.get(vpp_standin.root_url + "/standin/stats").json()["calls"] == {}


def _run_demo(directory):
    """``python -m mdm_core.vpp.standin --demo DIR`` on a free port; returns the process and its base URL."""
    process = subprocess.Popen([sys.executable, "-m", "mdm_core.vpp.standin", "--demo", str(directory), "--port", "0",
                                "--asset", "42:3", "--delay", "0", "--quiet"], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("Apps and Books stand-in listening on"):
            return process, line.split()[-1]
    raise AssertionError(f"the stand-in exited with {process.wait(10)}")


def test_the_demo_keeps_its_location_users_and_licenses_from_one_run_to_the_next(tmp_path):
    from mdm_core.vpp.client import VppClient

    process, url = _run_demo(tmp_path)
    try:
        stoken = (tmp_path / "standin.vpptoken").read_text()
        assert (tmp_path / "standin.vpptoken").stat().st_mode & 0o777 == 0o600, "a token is readable by its owner only"
        with VppClient(url, stoken, ca_bundle=str(tmp_path / "vpp-ca.pem")) as client:
            client.wait_for_event(client.create_users([{"clientUserId": "c1", "managedAppleId": "a@example.org"}]))
            event = client.associate_assets([("42", "STDQ")], ["c1"])
            client.wait_for_event(event)
            uid = client.client_config()["uId"]
    finally:
        process.terminate()  # what make run's trap sends
        assert process.wait(10) == 0
    process, url = _run_demo(tmp_path)
    try:
        with VppClient(url, stoken, ca_bundle=str(tmp_path / "vpp-ca.pem")) as client:
            assert client.client_config()["uId"] == uid
            assert [u["clientUserId"] for u in client.users()] == ["c1"]
            [asset] = client.assets()
            assert (asset.assigned_count, asset.available_count) == (1, 2)
            assert client.event_status(event[0]).status == "COMPLETE"  # an event the portal still polls is known
    finally:
        process.terminate()
        process.wait(10)
