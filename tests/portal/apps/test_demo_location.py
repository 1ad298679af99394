"""``demo-setup --vpp-token FILE`` (what make run calls beside the stand-in): the demo's content token is
stored once, the location claimed and the catalogue synced with its license counts."""
from sqlalchemy import func, select

from mdm_core.vpp.token import make_content_token
from portal.extensions import db
from portal.models import App, AuditEvent, VppToken


def _setup(runner, token_file):
    result = runner.invoke(args=["demo-setup", "--vpp-token", str(token_file)])
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_setup_loads_the_stand_ins_token_and_syncs_the_catalogue_once(app, runner, vpp, tmp_path):
    vpp.state.add_asset("361309726", total_count=25)
    vpp.state.add_asset("284882215", total_count=3)
    token_file = tmp_path / "standin.vpptoken"
    token_file.write_bytes(vpp.token_file)
    first = _setup(runner, token_file)
    assert "loaded the content token of Example Organization" in first
    assert "361309726 25/25" in first and "284882215 3/3" in first
    second = _setup(runner, token_file)  # make run again: nothing new
    assert "loaded" not in second and "361309726 25/25" in second
    with app.app_context():
        [row] = db.session.scalars(select(VppToken)).all()
        assert row.claimed_at is not None and row.last_error is None and row.last_sync_at is not None
        apps = db.session.execute(select(App.adam_id, App.licenses_available, App.licenses_total)
                                  .order_by(App.adam_id)).all()
        assert [tuple(a) for a in apps] == [("284882215", 3, 3), ("361309726", 25, 25)]
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "vpp.token_uploaded")) == 1
    assert '"guid"' in vpp.state.client_config["clientContext"]  # the location is claimed


def test_demo_setup_leaves_another_organisations_token_alone(app, runner, api, vpp, tmp_path):
    other = make_content_token("Real Organization")
    assert api("POST", "/vpp/token", data=other).status_code == 200
    token_file = tmp_path / "standin.vpptoken"
    token_file.write_bytes(vpp.token_file)
    result = runner.invoke(args=["demo-setup", "--vpp-token", str(token_file)])
    assert result.exit_code == 0 and "another organisation" in result.output
    with app.app_context():
        assert db.session.scalar(select(VppToken.organization)) == "Real Organization"


def test_demo_setup_refuses_a_file_that_is_not_a_content_token(runner, tmp_path):
    token_file = tmp_path / "standin.vpptoken"
    token_file.write_bytes(b"not a token")
    result = runner.invoke(args=["demo-setup", "--vpp-token", str(token_file)])
    assert result.exit_code != 0 and "not a content token" in result.output
