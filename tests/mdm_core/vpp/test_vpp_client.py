"""The Apps and Books client against the stand-in over real HTTPS: paging, batching to the
service config's limits, retries on 429 and 5xx, token errors, events and license counts."""
from __future__ import annotations

import datetime as dt

import pytest

from mdm_core.vpp.client import VppClient, VppError, VppRateLimited, VppTokenExpired, parse_retry_after
from mdm_core.vpp.standin import VppStandin


class FakeTime:
    """One clock for the client's sleeps and the stand-in's events: sleeping moves time on."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(vpp_standin):
    fake = FakeTime()
    vpp_standin.state.clock = fake.clock
    return fake


@pytest.fixture
def client(vpp_standin, fake_time):
    with VppClient(vpp_standin.url, vpp_standin.stoken, ca_bundle=vpp_standin.ca_bundle, sleep=fake_time.sleep,
                   clock=fake_time.clock, max_wait=30) as client:
        yield client


def _register(client, count, prefix="user"):
    ids = [f"{prefix}-{i}" for i in range(count)]
    status = client.wait_for_event(client.create_users(
        [{"clientUserId": cid, "managedAppleId": f"{cid}@example.org"} for cid in ids]))
    assert status.status == "COMPLETE"
    return ids


def test_service_config_gives_limits_urls_and_error_codes(client):
    config = client.service_config()
    assert config.limit("maxClientUserIds") == 1000 and config.limit("maxUsers") == 100
    assert config.urls["associateAssets"].endswith("/mdm/v2/assets/associate")
    assert config.error_codes[9709].startswith("There are not enough licenses")
    assert "ASSET_MANAGEMENT" in config.notification_types


def test_assets_are_read_across_every_page(vpp_standin, client):
    vpp_standin.state.page_size = 2
    for i in range(5):
        vpp_standin.state.add_asset(str(361309700 + i), total_count=10 + i)
    assets = list(client.assets())
    assert [a.adam_id for a in assets] == [str(361309700 + i) for i in range(5)]
    assert assets[4].total_count == 14 and assets[4].available_count == 14 and assets[4].pricing_param == "STDQ"
    assert vpp_standin.calls["assets"] == 3


def test_writes_are_split_to_the_service_configs_limits(vpp_standin, client):
    vpp_standin.state.limits.update(maxUsers=2, maxClientUserIds=3)
    vpp_standin.state.add_asset("408709785", total_count=50)
    ids = _register(client, 7)
    assert vpp_standin.calls["users/create"] == 4
    events = client.associate_assets([("408709785", "STDQ")], ids)
    assert len(events) == 3 and vpp_standin.calls["assets/associate"] == 3
    status = client.wait_for_event(events)
    assert status.status == "COMPLETE" and status.num_completed == 7
    assert {a["clientUserId"] for a in client.assignments(adam_id="408709785")} == set(ids)
    assert len(list(client.users(active_only=True))) == 7


def test_the_stand_in_refuses_a_batch_over_the_limit(vpp_standin, client):
    vpp_standin.state.add_asset("408709785")
    vpp_standin.state.limits["maxClientUserIds"] = 3
    with pytest.raises(VppError) as refused:
        client._event("associateAssets", {"assets": [{"adamId": "408709785", "pricingParam": "STDQ"}],
                                          "clientUserIds": ["a", "b", "c", "d"]})
    assert refused.value.code == 9701 and not refused.value.retryable


def test_429_is_retried_after_its_retry_after_without_losing_the_assignment(vpp_standin, client, fake_time):
    vpp_standin.state.add_asset("408709785")
    [cid] = _register(client, 1)
    vpp_standin.rate_limit_next(2, retry_after=3)
    status = client.wait_for_event(client.associate_assets([("408709785", "STDQ")], [cid]))
    assert status.status == "COMPLETE"
    assert fake_time.sleeps[:2] == [3.0, 3.0]
    assert vpp_standin.state.assigned_count("408709785") == 1
    assert vpp_standin.calls["assets/associate"] == 3


def test_rate_limited_beyond_the_wait_bound_raises_with_retry_after(vpp_standin, client, fake_time):
    vpp_standin.rate_limit_next(1, retry_after=120)
    with pytest.raises(VppRateLimited) as limited:
        list(client.assets())
    assert limited.value.retry_after == 120 and limited.value.code == 9646 and limited.value.retryable
    assert fake_time.sleeps == []


def test_5xx_is_retried_with_backoff_then_raised(vpp_standin, client, fake_time):
    client.service_config()
    vpp_standin.fail_next(2, status=503)
    assert client.client_config()["locationName"] == "Example Location"
    assert fake_time.sleeps == [1.0, 2.0]
    vpp_standin.fail_next(10, status=500)
    with pytest.raises(VppError) as failed:
        client.client_config()
    assert failed.value.status == 500 and failed.value.retryable and failed.value.code == 9603
    assert sum(fake_time.sleeps) <= 3 + 30


def test_expired_token_is_raised_at_once_and_not_retried(vpp_standin, client, fake_time):
    vpp_standin.expire_token()
    with pytest.raises(VppTokenExpired) as expired:
        client.client_config()
    assert expired.value.code == 9621 and not expired.value.retryable and fake_time.sleeps == []


def test_a_token_past_its_expiry_date_and_an_unknown_token_are_refused(vpp_standin_dir):
    past = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    with VppStandin(directory=vpp_standin_dir, token_expires_at=past) as standin:
        with pytest.raises(VppTokenExpired, match="9621"):
            VppClient(standin.url, standin.stoken, ca_bundle=standin.ca_bundle).client_config()
        with pytest.raises(VppTokenExpired, match="9601"):
            VppClient(standin.url, "someone-else", ca_bundle=standin.ca_bundle).client_config()


def test_events_are_polled_until_complete_and_their_effect_shows_only_then(vpp_standin, client, fake_time):
    vpp_standin.state.delay = 5.0
    vpp_standin.state.add_asset("408709785")
    events = client.create_users([{"clientUserId": "late", "managedAppleId": "late@example.org"}])
    assert client.event_status(events[0]).status == "PENDING"
    assert list(client.users()) == []
    status = client.wait_for_event(events)
    assert status.status == "COMPLETE" and status.event_type == "CREATE"
    assert sum(fake_time.sleeps) >= 5.0
    assert [u["managedAppleId"] for u in client.users()] == ["late@example.org"]


def test_an_event_still_pending_after_the_timeout_raises(vpp_standin, client):
    vpp_standin.state.delay = 10_000.0
    client.event_timeout = 20
    with pytest.raises(VppError, match="still pending"):
        client.wait_for_event(client.create_users([{"clientUserId": "x"}]))


def test_licenses_that_run_out_are_reported_per_user_and_counts_never_go_negative(vpp_standin, client):
    vpp_standin.state.add_asset("408709785", total_count=3)
    ids = _register(client, 5)
    status = client.wait_for_event(client.associate_assets([("408709785", "STDQ")], ids))
    assert status.status == "FAILED" and status.num_completed == 3
    assert status.failed_for(9709) == set(ids[3:]) == status.failed_client_user_ids
    again = client.wait_for_event(client.associate_assets([("408709785", "STDQ")], ids))
    assert again.failed_for(9709) == set(ids[3:])
    [asset] = client.assets()
    assert (asset.assigned_count, asset.available_count, asset.total_count) == (3, 0, 3)


def test_disassociating_frees_a_license_for_the_user_who_waited(vpp_standin, client):
    vpp_standin.state.add_asset("408709785", total_count=1)
    first, second = _register(client, 2)
    client.wait_for_event(client.associate_assets([("408709785", "STDQ")], [first, second]))
    assert vpp_standin.state.holds_license(f"{first}@example.org", "408709785")
    assert not vpp_standin.state.holds_license(f"{second}@example.org", "408709785")
    client.wait_for_event(client.disassociate_assets([("408709785", "STDQ")], [first]))
    assert client.wait_for_event(client.associate_assets([("408709785", "STDQ")], [second])).status == "COMPLETE"
    assert [a["clientUserId"] for a in client.assignments()] == [second]


def test_retiring_a_user_gives_their_licenses_back(vpp_standin, client):
    vpp_standin.state.add_asset("408709785", total_count=1)
    [cid] = _register(client, 1)
    client.wait_for_event(client.associate_assets([("408709785", "STDQ")], [cid]))
    assert client.wait_for_event(client.retire_users([cid])).status == "COMPLETE"
    assert list(client.assignments()) == [] and list(client.users(active_only=True)) == []
    assert [u["status"] for u in client.users()] == ["Retired"]


def test_client_context_round_trip_shows_a_second_server_claiming_the_location(vpp_standin, client):
    client.set_client_context('{"mdm": "portal-a"}')
    with VppClient(vpp_standin.url, vpp_standin.stoken, ca_bundle=vpp_standin.ca_bundle) as other:
        assert other.client_config()["clientContext"] == '{"mdm": "portal-a"}'
        other.set_client_context('{"mdm": "portal-b"}')
    assert client.client_config()["clientContext"] == '{"mdm": "portal-b"}'


def test_the_stand_ins_certificate_is_required(vpp_standin):
    with pytest.raises(VppError, match="ConnectError"):
        VppClient(vpp_standin.url, vpp_standin.stoken, max_attempts=1).client_config()


def test_retry_after_as_seconds_or_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def _answering(body):
    """A client whose service answers every request with ``body`` (JSON)."""
    import httpx

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    return VppClient("https://vpp.example/mdm/v2/", "stoken", client=httpx.Client(transport=transport))


@pytest.mark.parametrize("event_id", ["e" * 65, "line\nbreak", "\u00e9v\u00e9nement", 42, ""])
def test_an_event_id_that_cannot_be_stored_and_polled_is_refused(event_id):
    client = _answering({"eventId": event_id, "limits": {}})
    with pytest.raises(VppError, match="usable eventId"):
        client.create_users([{"clientUserId": "u", "managedAppleId": "u@example.org"}])


def test_counts_in_answers_are_clamped_to_what_a_column_holds():
    from mdm_core.vpp.client import MAX_COUNT, Asset, EventStatus

    asset = Asset.from_json({"adamId": "1", "pricingParam": "STDQ", "totalCount": 2 ** 70,
                             "availableCount": -5, "assignedCount": True})
    assert (asset.total_count, asset.available_count, asset.assigned_count) == (MAX_COUNT, 0, 0)
    assert EventStatus.from_json({"eventStatus": "COMPLETE", "numRequested": 10 ** 30}).num_requested == MAX_COUNT
