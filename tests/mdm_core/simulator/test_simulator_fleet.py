import json

import httpx
import pytest

from mdm_core.simulator import Fleet, SimulatedDevice, SimulatorError
from mdm_core.simulator.__main__ import mint_profile


def test_fleet_runs_every_device_and_keeps_failures_apart():
    devices = [SimulatedDevice("user"), SimulatedDevice("device"), SimulatedDevice("user")]

    def action(device):
        if device.enrollment_type == "device":
            raise SimulatorError("boom")
        return device.udid

    outcomes = Fleet(devices, workers=2).each(action)
    assert [o.device for o in outcomes] == devices
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[0].result == devices[0].udid
    assert str(outcomes[1].error) == "boom"


def test_fleet_enrolls_and_polls_many_devices_over_one_client(server, http):
    devices = [SimulatedDevice("user") for _ in range(3)] + [SimulatedDevice("device")]
    fleet = Fleet(devices, workers=4)
    assert all(o.ok for o in fleet.each(lambda d: d.install_profile(server.profile(d.enrollment_type), http)))
    assert all(o.ok and o.result == [] for o in fleet.each(lambda d: d.poll(http)))
    assert len({c.identifier for c in server.checkins}) == 4


def test_cli_mints_profiles_through_the_api_with_the_bearer_token():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(201, content=b"profile", headers={"Content-Type": "application/x-apple-aspen-config"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        assert mint_profile(client, "https://mdm.test/", "tok", "user", "sim-user-1@example.com") == b"profile"
    assert str(seen[0].url) == "https://mdm.test/api/v1/enrollment-profiles"
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert json.loads(seen[0].content) == {"enrollment_type": "user", "managed_apple_id": "sim-user-1@example.com"}


def test_cli_mint_failure_is_a_simulator_error():
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(401, json={"error": "no"}))) as client:
        with pytest.raises(SimulatorError, match="401"):
            mint_profile(client, "https://mdm.test", "bad", "device", "x@example.com")
