"""Device search and pagination, bulk commands, the audit log and the OpenAPI document."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from mdm_core import plist
from mdm_core.commands import parse_command_report
from portal.extensions import db
from portal.mdm.refusals import Refusal
from portal.mdm.report import record_report
from portal.models import AuditEvent, BulkCommand, Command, Device
from portal.models.base import utcnow


def test_search_filter_and_cursor_pagination(app, api, seed):
    seed(5, os_version="17.5.1")
    old = seed(3, enrollment_type="device", os_version="16.7", last_seen_at=utcnow() - timedelta(days=40))
    assert {d["id"] for d in api("GET", "/devices?q=16.7").json["devices"]} == set(old)
    assert {d["id"] for d in api("GET", "/devices?enrollment_type=device").json["devices"]} == set(old)
    flagged = api("GET", "/devices?flagged=true").json["devices"]
    assert {d["id"] for d in flagged} == set(old) and all(d["flagged"] for d in flagged)
    seen, cursor = [], None
    while True:
        page = api("GET", "/devices?sort=-last_seen_at&limit=3" + (f"&cursor={cursor}" if cursor else "")).json
        seen += [d["id"] for d in page["devices"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == 8 and len(set(seen)) == 8
    assert seen[-3:] == sorted(old, reverse=True), "least recently seen last, ties by id"


def test_each_listed_device_has_the_fields_the_contract_names(api, seed):
    user, = seed(1, managed_apple_id="ue@example.org")
    legacy, = seed(1, enrollment_type="device", managed_apple_id="legacy@example.org", status="unenrolled")
    listed = {d["id"]: d for d in api("GET", "/devices").json["devices"]}
    common = {"id", "enrollment_type", "managed_apple_id", "enrolled", "last_seen_at", "os_version", "model"}
    assert set(listed[user]) >= common | {"enrollment_id"} and "udid" not in listed[user]
    assert set(listed[legacy]) >= common | {"udid"} and "enrollment_id" not in listed[legacy]
    assert [(listed[i]["enrollment_type"], listed[i]["enrolled"]) for i in (user, legacy)] == [
        ("user", True), ("device", False)]
    assert (listed[user]["managed_apple_id"], listed[user]["os_version"], listed[user]["model"]) == (
        "ue@example.org", "17.5.1", "MTLW3LL/A")
    assert datetime.fromisoformat(listed[user]["last_seen_at"]).tzinfo is not None, "times are UTC, with their zone"
    detail = api("GET", f"/devices/{user}").json
    assert set(detail) >= common | {"inventory", "profiles", "apps"}


def test_bad_search_parameters_get_400(api):
    for query in ("sort=serial", "limit=0", "enrollment_type=phone", "cursor=%%%", "not_seen_for_days=x"):
        response = api("GET", f"/devices?{query}")
        assert response.status_code == 400, query
        assert response.json["error"] == "bad_request"


def test_search_treats_wildcards_literally(app, api, seed):
    seed(2)
    assert api("GET", "/devices?q=%25").json["devices"] == []


@pytest.fixture
def fast_commits(app):
    """SQLite without fsync for this test: 500 device reports are 500 commits."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "sqlite":
            yield
            return

        def no_sync(connection, _record):
            connection.execute("PRAGMA synchronous=OFF")

        event.listen(engine, "connect", no_sync)
        engine.dispose()
        yield
        event.remove(engine, "connect", no_sync)
        engine.dispose()


def _acknowledge_all(app, results, extra):
    """Answer each command as its device would (the store path of the command endpoint)."""
    with app.app_context():
        db.session.execute(update(Command).where(Command.command_uuid.in_([r["command_uuid"] for r in results]))
                           .values(status="sent"))
        db.session.commit()
        devices = {d.id: d for d in db.session.scalars(select(Device))}
        reports = []
        for result in results:
            device = devices[result["device_id"]]
            report = {"Status": "Acknowledged", "CommandUUID": result["command_uuid"], **extra}
            report.update({"EnrollmentID": device.enrollment_id} if device.enrollment_type == "user" else {"UDID": device.udid})
            reports.append((parse_command_report(plist.dumps(report)), device.certificate_fingerprint))
        db.session.expunge_all()  # each report runs in a fresh session, as on the real endpoint
        for report, fingerprint in reports:
            assert not isinstance(record_report(report, fingerprint), Refusal)


def test_bulk_command_to_500_devices_completes_with_per_device_results(app, api, seed, fast_commits):
    ids = seed(450) + seed(50, enrollment_type="device")
    response = api("POST", "/commands/bulk", json={"request_type": "DeviceInformation", "device_ids": ids})
    assert response.status_code == 201
    body = response.json
    assert body["queued"] == 500 and body["refused"] == 0
    assert [r["status"] for r in body["results"]] == [201] * 500
    _acknowledge_all(app, body["results"], {"QueryResponses": {"OSVersion": "18.1"}})
    progress = api("GET", f"/commands/bulk/{body['bulk_id']}").json
    assert progress["progress"]["acknowledged"] == 500
    assert {r["device_id"] for r in progress["results"]} == set(ids)
    assert api("GET", f"/devices/{ids[0]}").json["inventory"]["facts"]["OSVersion"] == "18.1"


def test_bulk_command_refuses_per_device_what_the_enrollment_type_forbids(app, api, seed):
    users = seed(2)
    legacy = seed(1, enrollment_type="device")
    gone = seed(1, status="unenrolled")
    body = api("POST", "/commands/bulk", json={"request_type": "EraseDevice",
                                                "device_ids": users + legacy + gone + [999999]}).json
    statuses = {r["device_id"]: r["status"] for r in body["results"]}
    assert statuses == {users[0]: 422, users[1]: 422, legacy[0]: 201, gone[0]: 409, 999999: 404}
    assert "forbidden under User Enrollment" in next(r["error"] for r in body["results"] if r["device_id"] == users[0])


def test_bulk_command_with_a_control_character_is_refused_per_device_not_a_500(api, seed):
    users = seed(2)
    response = api("POST", "/commands/bulk", json={"request_type": "RemoveProfile", "Identifier": "com.example.\u0007",
                                                    "device_ids": users})
    assert response.status_code == 201, response.data
    results = response.json["results"]
    assert [r["status"] for r in results] == [422, 422]
    assert all("property list" in r["error"] for r in results)


def test_command_keys_may_not_name_a_request_type_of_their_own(app, api, seed):
    [legacy] = seed(1, enrollment_type="device")
    single = api("POST", f"/devices/{legacy}/commands", json={"request_type": "ProfileList", "RequestType": "EraseDevice"})
    bulk = api("POST", "/commands/bulk", json={"request_type": "ProfileList", "RequestType": "EraseDevice",
                                                "device_ids": [legacy]})
    for response in (single, bulk):
        assert response.status_code == 422, response.data
        assert response.json["error"] == "invalid_command" and "RequestType" in response.json["detail"]
    with app.app_context():
        assert db.session.scalars(select(Command)).all() == []
        assert db.session.scalars(select(BulkCommand)).all() == []
        assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action.startswith("command."))).all()


@pytest.mark.parametrize("request_type", ["\ud800", "NoSuchCommand"])
def test_a_bulk_command_no_device_can_take_is_refused_before_anything_is_written(app, api, seed, request_type):
    """A lone surrogate as request_type was refused per device, then the bulk row naming it could not be
    written: a 500 (the single-device endpoint already refused it with a 422)."""
    [device] = seed(1)
    single = api("POST", f"/devices/{device}/commands", json={"request_type": request_type})
    bulk = api("POST", "/commands/bulk", json={"request_type": request_type, "device_ids": [device]})
    for response in (single, bulk):
        assert response.status_code == 422, response.data
        assert response.json["error"] == "command_not_allowed" and "unknown RequestType" in str(response.json["detail"])
    with app.app_context():
        assert db.session.scalars(select(BulkCommand)).all() == []
        assert db.session.scalars(select(Command)).all() == []


def test_bulk_command_on_a_search_result(app, api, seed):
    seed(3, os_version="16.0")
    seed(2, os_version="17.0")
    body = api("POST", "/commands/bulk", json={"request_type": "ProfileList", "search": {"q": "16.0"}}).json
    assert body["queued"] == 3


def test_bulk_command_search_takes_json_booleans(api, seed):
    """``POST /commands/bulk`` takes JSON: ``"search": {"flagged": false}`` selects the devices that are not
    flagged, as ``?flagged=false`` does on ``GET /devices``; it was read as the text "False" and refused (400)."""
    seed(2)
    listed = api("GET", "/devices?flagged=false").get_json()["devices"]
    assert len(listed) == 2
    response = api("POST", "/commands/bulk", json={"request_type": "ProfileList", "search": {"flagged": False}})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["queued"] == 2


def test_bulk_command_search_reads_null_as_no_filter(api, seed):
    """A search parameter given as JSON ``null`` is no filter (as an absent or empty one is), not a search for the
    text "None" that silently reaches no device."""
    seed(2)
    response = api("POST", "/commands/bulk", json={"request_type": "ProfileList", "search": {"q": None}})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["queued"] == 2


@pytest.mark.parametrize("value", [["16.0"], {"contains": "16.0"}], ids=["list", "object"])
def test_bulk_command_search_refuses_a_list_or_object_value_naming_the_key(app, api, seed, value):
    """A list or an object is no device-list parameter: 400 naming the key, where its Python text ("['16.0']")
    was searched for and reached no device."""
    seed(2, os_version="16.0")
    response = api("POST", "/commands/bulk", json={"request_type": "ProfileList", "search": {"q": value}})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "bad_request" and "search.q" in response.get_json()["detail"]
    with app.app_context():
        assert db.session.scalars(select(BulkCommand)).all() == []


def test_bulk_command_on_a_search_needs_the_read_scope_too(app, client, api_token, seed):
    seed(2, managed_apple_id="alice@example.org")
    commands_only = {"Authorization": f"Bearer {api_token('commander', scopes=('commands',))}"}
    search = {"request_type": "ProfileList", "search": {"managed_apple_id": "alice@example.org"}}
    refused = client.post("/api/v1/commands/bulk", json=search, headers=commands_only)
    assert refused.status_code == 403 and "'read' scope" in refused.json["detail"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Command)) == 0
    both = {"Authorization": f"Bearer {api_token('operator', scopes=('commands', 'read'))}"}
    assert client.post("/api/v1/commands/bulk", json=search, headers=both).json["queued"] == 2


def test_bulk_command_needs_exactly_one_target(api):
    assert api("POST", "/commands/bulk", json={"request_type": "ProfileList"}).status_code == 400
    assert api("POST", "/commands/bulk", json={"request_type": "ProfileList", "device_ids": ["1"]}).status_code == 400


def test_audit_api_filters_and_pages(app, api, seed):
    ids = seed(1, enrollment_type="device")
    api("POST", f"/devices/{ids[0]}/commands", json={"request_type": "ProfileList"})
    api("POST", f"/devices/{ids[0]}/commands", json={"request_type": "SecurityInfo"})
    events = api("GET", "/audit?action=command.&limit=1").json
    assert events["events"][0]["action"] == "command.queued"
    assert events["events"][0]["detail"]["request_type"] == "SecurityInfo"
    older = api("GET", f"/audit?action=command.&limit=1&cursor={events['next']}").json
    assert older["events"][0]["detail"]["request_type"] == "ProfileList"
    assert api("GET", "/audit?since=yesterday").status_code == 400


def test_audit_api_needs_the_audit_scope(client, api_token):
    token = api_token("reader", scopes=("read",))
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_audit_events_cannot_be_changed(app):
    from portal import audit
    from portal.models.audit import AuditLogIsAppendOnly

    with app.app_context():
        event = audit.record("test.event", actor_type="system")
        db.session.commit()
        event.action = "rewritten"
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.commit()
        db.session.rollback()


def test_inventory_settings_are_validated_and_audited(app, api, seed):
    assert api("GET", "/settings/inventory").json == {"inventory_interval_hours": 24, "stale_after_days": 14}
    assert api("PATCH", "/settings/inventory", json={"stale_after_days": 0}).status_code == 422
    assert api("PATCH", "/settings/inventory", json={"colour": "red"}).status_code == 422
    assert api("PATCH", "/settings/inventory", json={"stale_after_days": 3}).json["stale_after_days"] == 3
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "settings.changed"))
        assert event.detail == {"stale_after_days": {"old": 14, "new": 3}}


def test_openapi_document_is_valid_and_describes_every_api_route(app, client):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200, "served without a token"
    document = response.json
    validate(document)
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = "/" + rule.rule[len("/api/v1/"):]
        for converter in ("<id:", "<key:", "<"):
            path = path.replace(converter, "{")
        path = path.replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in described, f"{method} {path} is not in the OpenAPI document"


def test_bulk_command_results_come_a_page_at_a_time_by_device_with_the_refused_among_them(api, seed):
    ids = seed(3)
    body = api("POST", "/commands/bulk", json={"request_type": "DeviceInformation", "device_ids": ids + [999999]}).json

    first = api("GET", f"/commands/bulk/{body['bulk_id']}?limit=2").json
    rest = api("GET", f"/commands/bulk/{body['bulk_id']}?limit=2&cursor={first['next']}").json

    assert first["progress"]["queued"] == 3 and first["progress"]["refused"] == 1
    assert [r["device_id"] for r in first["results"]] == sorted(ids)[:2]
    assert [r["device_id"] for r in rest["results"]] == [sorted(ids)[2], 999999]
    assert rest["results"][-1]["status"] == "refused" and rest["next"] is None
    assert api("GET", f"/commands/bulk/{body['bulk_id']}?limit=0").status_code == 400
