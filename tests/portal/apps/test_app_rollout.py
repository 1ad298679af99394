"""An App Store app rolled out through the Apps and Books stand-in (HTTPS) to simulated user-enrolled
phones: one registration and one license per person, installs with the configuration filled per
person, removal with the license released, licenses running out, and a bad day at the service."""
import plistlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from mdm_core.vpp.client import VppClient
from portal.apps import catalogue, lease, sync
from portal.apps.tokens import TOKEN_ROW
from portal.extensions import db
from portal.models import AppLicense, AppState, AppUser, Command, VppToken
from portal.models.base import utcnow
from tests.helpers import csrf_token_from

ADAM = "361309726"


def _commands(app, device_id, request_type):
    with app.app_context():
        rows = db.session.scalars(select(Command).where(Command.device_id == device_id,
                                                        Command.request_type == request_type)).all()
        return [plistlib.loads(row.payload)["Command"] for row in rows]


def _start(api, vpp, total=10):
    """Upload the token, sync the catalogue; returns the app's id."""
    vpp.state.add_asset(ADAM, total_count=total)
    uploaded = api("POST", "/vpp/token", data=vpp.token_file)
    assert uploaded.status_code == 200, uploaded.get_data(as_text=True)
    assert uploaded.get_json()["organization"] == "Example Organization"
    assert uploaded.get_json()["location"]["claimed"] is True
    synced = api("POST", "/vpp/sync")
    assert synced.status_code == 200, synced.get_data(as_text=True)
    [entry] = api("GET", "/apps").get_json()["apps"]
    assert (entry["adam_id"], entry["licenses"]["total"], entry["licenses"]["available"]) == (ADAM, total, total)
    return entry["id"]


def _written_meanwhile(statement: str) -> int | str:
    """Run ``statement`` on a connection of its own waiting at most a second for a row lock: the rows it wrote, or the
    error's name (``LockNotAvailable``: a row was held)."""
    with db.engine.connect() as other:
        other.execute(text("SET lock_timeout = '1s'"))
        try:
            written = other.execute(text(statement)).rowcount
            other.commit()
            return written
        except OperationalError as exc:
            return type(exc.orig).__name__


def _field_wants_the_app(api, vpp, person, enroll, names=("ann",), total=10) -> int:
    """The app in the catalogue (``total`` licenses), scoped to the group of these people, whose phones are enrolled:
    their licenses are wanted. Returns the app's id."""
    app_id = _start(api, vpp, total=total)
    for name in names:
        person(f"{name}@example.org", "field")
        enroll(managed_apple_id=f"{name}@example.org")
    api("PUT", f"/apps/{app_id}/scope", json={"groups": ["field"]})
    return app_id


def test_a_group_scoped_app_licenses_each_person_once_and_installs_on_every_phone(
        app, api, vpp, enroll, person, worker_pass, device_http, device_id):
    app_id = _start(api, vpp)
    person("alice@example.org", "sales")
    person("bob@example.org", "sales")
    person("carol@example.org", "it")
    alice = [enroll(managed_apple_id="alice@example.org", license_check=vpp.state.holds_license) for _ in range(2)]
    bob = enroll(managed_apple_id="bob@example.org", license_check=vpp.state.holds_license)
    carol = enroll(managed_apple_id="carol@example.org", license_check=vpp.state.holds_license)
    patched = api("PATCH", f"/apps/{app_id}", json={"configuration": {"user": "$EMAIL", "level": 3, "on": True}})
    assert patched.status_code == 200, patched.get_data(as_text=True)
    scoped = api("PUT", f"/apps/{app_id}/scope", json={"groups": ["sales"]})
    assert scoped.get_json() == {"devices_added": 3, "devices_removed": 0}
    assert _commands(app, device_id(bob), "InstallApplication") == []  # no license yet: nothing is sent

    worker_pass()  # registers, associates, and (events done at once) installs
    assert len(vpp.state.users) == 2
    assert vpp.state.assigned_count(ADAM) == 2  # alice's two phones use one license
    for phone in (*alice, bob, carol):
        phone.poll(device_http)
    for phone, email in ((alice[0], "alice@example.org"), (alice[1], "alice@example.org"), (bob, "bob@example.org")):
        [install] = _commands(app, device_id(phone), "InstallApplication")
        assert install["iTunesStoreID"] == int(ADAM) and install["Options"] == {"PurchaseMethod": 1}
        assert install["ManagementFlags"] == 1
        assert install["Configuration"] == {"user": email, "level": 3, "on": True}
    assert _commands(app, device_id(carol), "InstallApplication") == []
    for later in (30, 60):  # the worker asks the phones how the installs go: Prompting, Installing, Managed
        worker_pass(seconds_later=later)
        for phone in (*alice, bob):
            phone.poll(device_http)
    status = api("GET", f"/apps/{app_id}/status").get_json()
    assert status["counts"] == {"pending": 0, "installed": 3, "failed": 0, "removing": 0, "no_license": 0}

    person("bob@example.org")  # bob leaves the group
    bob.poll(device_http)
    assert [c["Identifier"] for c in _commands(app, device_id(bob), "RemoveApplication")] == [
        f"com.example.store.{ADAM}"]
    worker_pass()
    assert vpp.state.assigned_count(ADAM) == 1
    assert not vpp.state.holds_license("bob@example.org", ADAM)
    assert vpp.state.holds_license("alice@example.org", ADAM)
    with app.app_context():
        assert db.session.query(AppUser).count() == 2  # registered once each; bob stays known, without license
        assert [lic.status for lic in db.session.scalars(select(AppLicense))] == ["associated"]


def test_when_licenses_run_out_the_rest_wait_visibly_with_the_number_needed(app, api, vpp, enroll, person,
                                                                         worker_pass, device_http):
    app_id = _field_wants_the_app(api, vpp, person, enroll, ("ann", "ben", "cat"), total=1)
    worker_pass()
    assert vpp.state.assigned_count(ADAM) == 1
    status = api("GET", f"/apps/{app_id}/status").get_json()
    assert status["counts"]["no_license"] == 2 and status["licenses_needed"] == 2
    [entry] = api("GET", "/apps").get_json()["apps"]
    assert entry["licenses"] == {"total": 1, "assigned": 1, "available": 0, "needed": 2}
    vpp.state.add_asset(ADAM, total_count=3)  # the organisation buys more
    api("POST", "/vpp/sync")
    worker_pass()
    assert vpp.state.assigned_count(ADAM) == 3
    assert api("GET", f"/apps/{app_id}/status").get_json()["counts"]["no_license"] == 0


def test_429_5xx_and_an_expired_token_lose_no_assignment(app, api, vpp, enroll, person, worker_pass, admin_client):
    app_id = _start(api, vpp)
    person("dan@example.org", "ops")
    enroll(managed_apple_id="dan@example.org")
    api("PUT", f"/apps/{app_id}/scope", json={"groups": ["ops"]})

    vpp.rate_limit_next(times=1, retry_after=120)
    worker_pass()
    with app.app_context():
        token = db.session.get(VppToken, 1)
        assert token.not_before is not None and "rate limited" in token.last_error
    worker_pass(seconds_later=60)  # still inside Retry-After: no call at all
    assert vpp.state.users == {}

    vpp.fail_next(times=4, status=503)
    worker_pass(seconds_later=180)
    with app.app_context():
        assert "failed" in db.session.get(VppToken, 1).last_error
        assert db.session.query(AppLicense).count() == 1  # the assignment is still there, to do

    vpp.expire_token()
    worker_pass(seconds_later=240)
    assert api("GET", "/vpp/token").get_json()["expired"] is True
    assert "content token has expired" in admin_client.get("/admin/").get_data(as_text=True)
    vpp.expire_token(False)
    assert api("POST", "/vpp/token", data=vpp.token_file).status_code == 200  # a new token: apps and users stay
    worker_pass(seconds_later=300)
    assert vpp.state.holds_license("dan@example.org", ADAM)
    with app.app_context():
        [state] = db.session.scalars(select(AppState)).all()
        assert state.last_command_uuid is not None  # the install went out


def test_a_second_server_claiming_the_location_is_detected_and_not_taken_over(app, api, vpp, admin_client):
    vpp.state.client_config["clientContext"] = '{"hostname": "mdm.other.example", "guid": "someone-else"}'
    answer = api("POST", "/vpp/token", data=vpp.token_file).get_json()
    assert answer["location"] == {"name": "Example Location", "claimed": False,
                                  "other_server": '{"hostname": "mdm.other.example", "guid": "someone-else"}'}
    assert "someone-else" in vpp.state.client_config["clientContext"]
    assert "Another server manages" in admin_client.get("/admin/").get_data(as_text=True)
    taken = api("POST", "/vpp/token?take_over=true", data=vpp.token_file).get_json()
    assert taken["location"]["claimed"] is True
    assert "someone-else" not in vpp.state.client_config["clientContext"]


def test_the_admin_pages_upload_a_token_add_an_app_with_configuration_and_scope_it(app, api, vpp, admin_client, person,
                                                                                  enroll):
    from io import BytesIO

    from tests.helpers import csrf_token_from

    page = admin_client.get("/admin/apps/token")
    uploaded = admin_client.post("/admin/apps/token", data={"csrf_token": csrf_token_from(page.get_data(as_text=True)),
                                                           "token": (BytesIO(vpp.token_file), "x.vpptoken")})
    assert uploaded.status_code == 303
    assert "Example Organization" in admin_client.get("/admin/apps/token").get_data(as_text=True)
    catalogue = admin_client.get("/admin/apps").get_data(as_text=True)
    added = admin_client.post("/admin/apps", data={"csrf_token": csrf_token_from(catalogue), "adam_id": "909253",
                                                   "name": "Notes <b>", "bundle_id": "com.example.notes",
                                                   "configuration": "<dict><key>server</key><string>$EMAIL</string>"
                                                                    "<key>port</key><integer>443</integer></dict>"})
    assert added.status_code == 303, added.get_data(as_text=True)
    app_page = admin_client.get(added.location).get_data(as_text=True)
    assert "Notes &lt;b&gt;" in app_page and "&lt;string&gt;$EMAIL&lt;/string&gt;" in app_page
    bad = admin_client.post(added.location, data={"csrf_token": csrf_token_from(app_page), "name": "Notes",
                                                  "configuration": '{"a": null}'})
    assert bad.status_code == 422 and "null" in bad.get_data(as_text=True)
    person("eve@example.org", "design")
    enroll(managed_apple_id="eve@example.org")
    scope_page = admin_client.get(added.location + "/scope").get_data(as_text=True)
    preview = admin_client.post(added.location + "/scope", data={"csrf_token": csrf_token_from(scope_page),
                                                                "groups": "design", "action": "preview"})
    assert 'adds <strong data-preview="added">1</strong> device and' in preview.get_data(as_text=True)
    saved = admin_client.post(added.location + "/scope", data={"csrf_token": csrf_token_from(scope_page),
                                                              "groups": "design", "action": "save"})
    assert saved.status_code == 303
    app_page = admin_client.get(added.location).get_data(as_text=True)
    assert "Scope saved: 1 device added, 0 devices removed." in app_page and "0 installed · 1 pending" in app_page
    assert admin_client.post(added.location + "/scope", data={"groups": "design", "action": "save"}).status_code == 400
    smart = api("POST", "/smart-groups", json={"name": "18+", "criteria": {"os_version_min": "18.0"}}).get_json()["id"]
    excluded = admin_client.post(added.location + "/scope", data={
        "csrf_token": csrf_token_from(scope_page), "groups": "design", "exclude.smart_groups": str(smart),
        "action": "save"})
    assert excluded.status_code == 303
    assert re.search(rf'name="exclude.smart_groups" value="{smart}" checked',
                     admin_client.get(added.location + "/scope").get_data(as_text=True)), \
        "the page shows the excluded smart group ticked, so saving it again keeps it"
    odd = admin_client.post(added.location + "/scope", data={"csrf_token": csrf_token_from(scope_page),
                                                            "smart_groups": "²", "action": "preview"})
    assert odd.status_code == 400 and "Not allowed: smart_groups must hold smart group ids" in odd.get_data(as_text=True)


@pytest.mark.postgres_only("SQLite locks the whole database, not rows")
def test_the_licenses_left_waiting_are_not_held_locked_while_apple_is_asked(app, api, vpp, enroll, person,
                                                                           worker_pass, monkeypatch):
    app_id = _field_wants_the_app(api, vpp, person, enroll, ("ann", "ben", "cat"), total=1)
    associate, meanwhile = VppClient.associate_assets, []

    def slow_apple(client, assets, client_user_ids):  # another writer of the licenses, while the call is out
        meanwhile.append(_written_meanwhile("UPDATE app_licenses SET updated_at = updated_at"))
        return associate(client, assets, client_user_ids)

    monkeypatch.setattr(VppClient, "associate_assets", slow_apple)
    worker_pass()
    assert meanwhile == [3], "the two left without a license were written before the call, not held through it"
    assert api("GET", f"/apps/{app_id}/status").get_json()["counts"]["no_license"] == 2


@pytest.mark.postgres_only("SQLite locks the whole database, not rows")
def test_the_catalogue_rows_are_not_held_locked_while_the_names_are_looked_up(app, api, vpp, monkeypatch):
    _start(api, vpp, total=3)  # in the catalogue, nameless (the lookup is off in the tests)
    vpp.state.add_asset(ADAM, total_count=5)  # Apple's counts change: the next sync writes the app's row
    monkeypatch.setitem(app.config, "ITUNES_LOOKUP_URL", "https://lookup.invalid/lookup")
    meanwhile = []

    def slow_lookup(url, ids):  # an admin edits an app while the lookup is out
        meanwhile.append(_written_meanwhile("UPDATE apps SET updated_at = updated_at"))
        return [{"trackId": int(ADAM), "trackName": "Looked Up", "bundleId": "com.example.looked"}]

    monkeypatch.setattr(catalogue, "_lookup", slow_lookup)
    assert api("POST", "/vpp/sync").status_code == 200
    assert meanwhile == [1]
    [entry] = api("GET", "/apps").get_json()["apps"]
    assert (entry["name"], entry["licenses"]["total"]) == ("Looked Up", 5)


def test_a_sync_while_another_is_calling_the_service_calls_nothing_and_says_so(app, api, vpp, admin_client, person,
                                                                             enroll, worker_pass):
    _field_wants_the_app(api, vpp, person, enroll)
    with app.app_context():  # another node's job is calling the service
        other = lease.take(db.session, TOKEN_ROW)
    calls = sum(vpp.calls.values())
    answer = api("POST", "/vpp/sync")
    assert answer.status_code == 409 and answer.get_json()["error"] == "sync_in_progress"
    page = admin_client.post("/admin/apps/sync", data={"csrf_token": csrf_token_from(
        admin_client.get("/admin/apps").get_data(as_text=True))}, follow_redirects=True)
    assert "Another sync is calling the Apps and Books service" in page.get_data(as_text=True)
    worker_pass()
    assert sum(vpp.calls.values()) == calls, "nothing was asked of the service while the other job held the lease"
    assert not vpp.state.holds_license("ann@example.org", ADAM)

    with app.app_context():
        other.session = db.session
        other.give_back()
    worker_pass()
    worker_pass()
    assert vpp.state.holds_license("ann@example.org", ADAM), "the next pass does the work"
    with app.app_context():
        assert db.session.get(VppToken, TOKEN_ROW).sync_until is None, "each job gave its lease back"


def test_a_job_that_died_holding_the_lease_holds_it_only_until_it_ends(app, api, vpp, person, enroll, worker_pass):
    _field_wants_the_app(api, vpp, person, enroll)
    with app.app_context():
        assert lease.take(db.session, TOKEN_ROW) is not None  # and its worker dies: it is never given back
        db.session.execute(update(VppToken).values(sync_until=utcnow() - timedelta(seconds=1)))  # LEASE later
        db.session.commit()
    worker_pass()
    worker_pass()
    assert vpp.state.holds_license("ann@example.org", ADAM)


def test_a_job_that_outlived_its_lease_stops_before_its_next_call_and_another_job_does_the_work(
        app, api, vpp, person, enroll, monkeypatch):
    _field_wants_the_app(api, vpp, person, enroll)
    associate, batches, state, other = sync._associate, sync.chunks, {"reading": False, "taken": False}, {}

    def associating(session, client, now):
        state["reading"] = not state["taken"]  # this job reads the licenses wanted: it means to associate ann's
        return associate(session, client, now)

    def after_long_calls(rows, size):
        if state["reading"] and not state["taken"]:  # its calls so far outlasted its lease; another node's job takes it
            state["taken"] = True
            with app.app_context():
                db.session.execute(update(VppToken).values(sync_until=utcnow() - timedelta(seconds=1)))
                db.session.commit()
                other.update(sync.run(db.session))
                db.session.remove()
        return batches(rows, size)

    monkeypatch.setattr(sync, "_associate", associating)
    monkeypatch.setattr(sync, "chunks", after_long_calls)
    with app.app_context():
        done = sync.run(db.session)
        assert db.session.get(VppToken, TOKEN_ROW).sync_until is None, "the other job gave its lease back"
    assert other["associated"] == 1, "the other job associated ann's license"
    assert "associated" not in done, "this one stopped before its call"
    assert vpp.calls["assets/associate"] == 1, "one association, not two"
    assert vpp.state.holds_license("ann@example.org", ADAM)


@pytest.mark.postgres_only("SQLite locks the whole database, not rows")
def test_a_name_the_admin_gives_while_the_lookup_is_out_is_kept(app, api, vpp, monkeypatch):
    app_id = _start(api, vpp, total=3)  # nameless: the lookup is off in the tests
    monkeypatch.setitem(app.config, "ITUNES_LOOKUP_URL", "https://lookup.invalid/lookup")

    def slow_lookup(url, ids):  # the admin names the app, and saves, meanwhile
        assert _written_meanwhile(f"UPDATE apps SET name = 'Admin Name' WHERE id = {int(app_id)}") == 1
        return [{"trackId": int(ADAM), "trackName": "Looked Up", "bundleId": "com.example.looked"},
                {"trackId": 1, "trackName": "Not asked"}]

    monkeypatch.setattr(catalogue, "_lookup", slow_lookup)
    assert api("POST", "/vpp/sync").status_code == 200
    [entry] = api("GET", "/apps").get_json()["apps"]
    assert (entry["name"], entry["bundle_id"]) == ("Admin Name", "com.example.looked"), "what was missing is filled"


def test_a_lease_the_database_cannot_take_back_is_left_to_expire_and_the_jobs_own_error_is_raised(
        app, api, vpp, person, enroll, monkeypatch):
    _field_wants_the_app(api, vpp, person, enroll)

    def database_gone(self):
        raise OperationalError("UPDATE vpp_tokens", {}, ConnectionError("server closed the connection"))

    def failing_step(session, client, now):
        raise RuntimeError("the job's own failure")

    monkeypatch.setattr(lease.Lease, "give_back", database_gone)
    with app.app_context():
        assert sync.run(db.session)["registered"] == 1, "a job that did its work returns it"
        monkeypatch.setattr(sync, "_associate", failing_step)
        db.session.execute(update(VppToken).values(sync_until=None))
        db.session.commit()
        with pytest.raises(RuntimeError, match="the job's own failure"):
            sync.run(db.session)
