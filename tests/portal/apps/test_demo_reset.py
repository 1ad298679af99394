"""``make run`` after the demo database was deleted (instance/vpp-demo/ kept, as the README says it is): the
stand-in's location is still claimed by the server the old database named, so demo-setup's output must not
report an empty catalogue as if all were well."""
import json

from sqlalchemy import select

from portal.apps import demo
from portal.extensions import db
from portal.models import AuditEvent, VppToken


def _demo_setup_after_a_claim(runner, vpp, tmp_path, hostname: str, guid: str):
    """``demo-setup`` with the stand-in's content token, its location already claimed by server ``guid``."""
    vpp.state.add_asset("361309726", total_count=25)
    vpp.state.client_config["clientContext"] = json.dumps({"hostname": hostname, "guid": guid})
    token_file = tmp_path / "standin.vpptoken"
    token_file.write_bytes(vpp.token_file)
    return runner.invoke(args=["demo-setup", "--vpp-token", str(token_file)])


def test_demo_setup_says_why_the_catalogue_is_empty_when_another_server_holds_the_demo_location(
        app, runner, vpp, tmp_path):
    # what the stand-in kept from the previous demo database's claim
    result = _demo_setup_after_a_claim(runner, vpp, tmp_path, "127.0.0.1", "c816f1c6-old-demo")
    assert result.exit_code == 0, result.output
    with app.app_context():
        row = db.session.scalar(select(VppToken))
        claimed = row.claimed_at is not None
    said_why = any(word in result.output.lower() for word in ("another server", "claimed by", "take over", "take_over"))
    assert claimed or said_why, (
        f"location not claimed and demo-setup only printed: {result.output!r} (Admin > Apps stays empty)")


def test_demo_setup_takes_its_own_stand_ins_location_over_and_says_so(app, runner, vpp, tmp_path):
    result = _demo_setup_after_a_claim(runner, vpp, tmp_path, "127.0.0.1", "c816f1c6-old-demo")
    assert result.exit_code == 0, result.output
    assert "c816f1c6-old-demo" in result.output and "took it over" in result.output
    assert "361309726 25/25" in result.output
    assert "c816f1c6-old-demo" not in vpp.state.client_config["clientContext"]
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "vpp.location_taken_over"))


def test_demo_setup_leaves_a_location_on_a_remote_service_to_the_admin_and_says_who_holds_it(
        app, runner, vpp, tmp_path, monkeypatch):
    """Only the stand-in on this machine is the demo's own: a location on another host may be a real server's."""
    monkeypatch.setattr(demo, "service_is_local", lambda: False)
    result = _demo_setup_after_a_claim(runner, vpp, tmp_path, "mdm.example.com", "production")
    assert result.exit_code == 0, result.output
    assert "another server manages this location" in result.output and "production" in result.output
    assert "take it over on Admin > Apps" in result.output
    assert '"production"' in vpp.state.client_config["clientContext"]
    with app.app_context():
        row = db.session.scalar(select(VppToken))
        assert row.claimed_at is None and "production" in row.other_server
