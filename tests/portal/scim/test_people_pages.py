"""The people and groups pages, offboarding from them (with confirmation and CSRF), and the dashboard's alert."""
from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import EndUser, EnrollmentRetirement
from tests.helpers import csrf_token_from
from tests.portal.scim.bodies import create_group, create_user


def _person_id(app, managed_apple_id):
    with app.app_context():
        return db.session.scalar(select(EndUser.id).where(EndUser.managed_apple_id == managed_apple_id))


def test_people_list_searches_pages_and_shows_source_state_and_devices(app, admin_client, scim, enroll):
    create_user(scim, "dana@example.org", displayName="<b>Dana</b>")
    for n in range(51):
        create_user(scim, f"filler{n:02d}@example.org")
    enroll("user", "dana@example.org")
    page = admin_client.get("/admin/people", query_string={"q": "dana"}).get_data(as_text=True)
    assert "dana@example.org" in page and "filler" not in page and "&lt;b&gt;Dana&lt;/b&gt;" in page
    assert "<td>SCIM</td>" in page and "<td>1</td>" in page
    first = admin_client.get("/admin/people").get_data(as_text=True)
    assert "page 1 of 2" in first and 'rel="next"' in first
    assert admin_client.get("/admin/people", query_string={"q": "x\x00"}).status_code == 400


def test_an_admin_offboards_with_confirmation_and_reactivates(app, admin_client, scim, enroll, device_http):
    create_user(scim, "erin@example.org")
    group = create_group(scim, "Engineering", scim("GET", "/Users").get_json()["Resources"][0]["id"])
    phone = enroll("user", "erin@example.org")
    person = _person_id(app, "erin@example.org")
    page = admin_client.get(f"/admin/people/{person}").get_data(as_text=True)
    assert "Engineering" in page and "(SCIM)" in page and "Offboard" in page
    token = csrf_token_from(page)
    assert admin_client.post(f"/admin/people/{person}/offboard", data={"csrf_token": token}).status_code == 303
    assert _retirements(app) == 0, "not without the confirmation box"
    assert admin_client.post(f"/admin/people/{person}/offboard", data={"confirm": "yes"}).status_code == 400, "CSRF"
    response = admin_client.post(f"/admin/people/{person}/offboard", data={"csrf_token": token, "confirm": "yes"},
                                 follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "retiring" in page and "offboarded" in page and _retirements(app) == 1
    assert scim("GET", "/Users", query_string={"filter": 'active eq false'}).get_json()["totalResults"] == 1

    dashboard = admin_client.get("/admin/").get_data(as_text=True)
    assert "Offboarding" in dashboard and "1 device(s) retiring" in dashboard and "not answered" not in dashboard
    with app.app_context():
        row = db.session.scalar(select(EnrollmentRetirement))
        row.started_at -= timedelta(hours=25)
        db.session.commit()
    assert "1 not answered after 24 h" in admin_client.get("/admin/").get_data(as_text=True)

    response = admin_client.post(f"/admin/people/{person}/reactivate", data={"csrf_token": token}, follow_redirects=True)
    assert "1 retirement(s) cancelled" in response.get_data(as_text=True) and _retirements(app) == 0
    assert phone.poll(device_http) == [] and phone.settings is not None
    groups = admin_client.get("/admin/groups").get_data(as_text=True)
    assert "Engineering" in groups and "<td>SCIM</td>" in groups
    with app.app_context():
        from portal.models import Group
        group_id = db.session.scalar(select(Group.id).where(Group.scim_id == group))
    assert "erin@example.org" in admin_client.get(f"/admin/groups/{group_id}").get_data(as_text=True)
    assert admin_client.get("/admin/groups/999999").status_code == 404


def _retirements(app):
    with app.app_context():
        return len(db.session.scalars(select(EnrollmentRetirement)).all())
