"""The scope editor and smart groups pages: the preview counts are what saving then reports, a profile User
Enrollment forbids is refused naming payload and key, and smart groups show their member count."""
import io
import re

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, EndUser, Group, GroupMembership, ProfileState, ScopeTarget, SmartGroup
from tests.helpers import PROFILE_CORPUS, csrf_token_from, page_statements


def post(client, path, data, follow=False):
    token = csrf_token_from(client.get(path if "smart" not in path else "/admin/smart-groups").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=follow)


def upload(client, name):
    token = csrf_token_from(client.get("/admin/profiles/upload").get_data(as_text=True))
    data = (PROFILE_CORPUS / f"{name}.mobileconfig").read_bytes()
    response = client.post("/admin/profiles/upload", data={"csrf_token": token,
                                                           "profile": (io.BytesIO(data), "p.mobileconfig")},
                           content_type="multipart/form-data")
    return int(response.location.rsplit("/", 1)[1])


def members(app, group, *managed_apple_ids):
    with app.app_context():
        row = Group(name=group, source="sign_in")
        db.session.add(row)
        db.session.flush()
        for index, mail in enumerate(managed_apple_ids):
            user = EndUser(issuer="https://idp.example", subject=f"{group}-{index}", managed_apple_id=mail, email=mail)
            db.session.add(user)
            db.session.flush()
            db.session.add(GroupMembership(group_id=row.id, user_id=user.id, source="sign_in"))
        db.session.commit()


def preview_counts(response):
    html = response.get_data(as_text=True)
    added = re.search(r'data-preview="added">(\d+)<', html)
    removed = re.search(r'data-preview="removed">(\d+)<', html)
    assert added and removed, html[:3000]
    return int(added.group(1)), int(removed.group(1))


def saved_counts(response):
    match = re.search(r"Scope saved: (\d+) devices? added, (\d+) devices? removed", response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:3000]
    return int(match.group(1)), int(match.group(2))


def test_the_preview_counts_are_what_saving_reports(app, admin_client, seed):
    sales = seed(3, managed_apple_id="sam@example.org") + seed(1, managed_apple_id="sue@example.org")
    seed(2, managed_apple_id="ivan@example.org")
    seed(1, managed_apple_id="sam@example.org", enrollment_type="device")
    members(app, "sales", "sam@example.org", "sue@example.org")
    members(app, "it", "ivan@example.org")
    profile_id = upload(admin_client, "wifi-wpa2")
    path = f"/admin/profiles/{profile_id}/scope"
    page = admin_client.get(path).get_data(as_text=True)
    assert 'value="sales"' in page and 'value="it"' in page, "known groups are offered"

    first = {"groups": "sales", "action": "preview"}
    assert preview_counts(post(admin_client, path, first)) == (4, 0)
    assert saved_counts(post(admin_client, path, {**first, "action": "save"}, follow=True)) == (4, 0)
    with app.app_context():
        assert {s.device_id for s in db.session.scalars(select(ProfileState))} == set(sales)

    second = {"all_user_enrolled": "on", "exclude.users": "SUE@example.org", "exclude.groups_other": "nobody-yet"}
    assert preview_counts(post(admin_client, path, {**second, "action": "preview"})) == (2, 1)
    assert saved_counts(post(admin_client, path, {**second, "action": "save"}, follow=True)) == (2, 1)
    page = admin_client.get(path).get_data(as_text=True)
    assert 'id="all_user_enrolled" name="all_user_enrolled" checked' in page and "sue@example.org" in page
    assert "nobody-yet" in page, "a group nobody signed in with yet stays in the scope"
    with app.app_context():
        events = [e.detail for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "profile.scope_changed"))]
    assert [(e["devices_added"], e["devices_removed"]) for e in events] == [(4, 0), (2, 1)]


def test_a_profile_user_enrollment_forbids_is_refused_naming_payload_and_key(app, admin_client, seed):
    seed(1)
    profile_id = upload(admin_client, "wifi-with-proxy")
    response = post(admin_client, f"/admin/profiles/{profile_id}/scope", {"all_user_enrolled": "on", "action": "save"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "com.apple.wifi.managed" in html and "ProxyType" in html
    with app.app_context():
        assert db.session.scalars(select(ScopeTarget)).all() == []


def test_bad_scope_input_is_a_clear_error(admin_client):
    profile_id = upload(admin_client, "wifi-wpa2")
    path = f"/admin/profiles/{profile_id}/scope"
    response = post(admin_client, path, {"users": "not an address", "action": "preview"})
    assert response.status_code == 400 and "users:" in response.get_data(as_text=True)
    response = post(admin_client, path, {"smart_groups": "12345", "action": "preview"})
    assert response.status_code == 422 and "no smart group 12345" in response.get_data(as_text=True)
    response = post(admin_client, path, {"smart_groups": "x", "action": "preview"})
    assert response.status_code == 400


def test_smart_groups_are_created_with_their_member_count_and_audited(app, admin_client, seed):
    seed(2, os_version="17.5.1", product_name="iPhone15,2")
    seed(1, os_version="16.2", product_name="iPhone14,2")
    seed(1, os_version="17.5.1", product_name="iPad13,1")
    response = post(admin_client, "/admin/smart-groups", {
        "name": "Recent iPhones", "os_version_min": "17.0", "model_family": "iPhone", "enrollment_type": "user",
        "last_seen_after": "2020-01-01T00:00", "flagged": "false"}, follow=True)
    html = response.get_data(as_text=True)
    assert "Smart group Recent iPhones created" in html
    assert re.search(r'data-members="\d+">2<', html)
    refused = post(admin_client, "/admin/smart-groups", {"name": "Bad", "os_version_min": "seventeen"})
    assert refused.status_code == 422 and "os_version_min must be a version" in refused.get_data(as_text=True)
    assert 'value="Bad"' in refused.get_data(as_text=True), "input kept"
    assert post(admin_client, "/admin/smart-groups", {"name": "  "}).status_code == 422
    with app.app_context():
        events = [(e.actor, e.detail["criteria"]) for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "smart_group.created"))]
    assert events == [("admin@example.org", {"os_version_min": "17.0", "model_family": "iPhone",
                                             "enrollment_type": "user",
                                             "last_seen_after": "2020-01-01T00:00:00+00:00", "flagged": False})]


def test_smart_groups_page_counts_every_groups_members_in_a_constant_number_of_statements(app, admin_client, seed):
    seed(2, os_version="17.5.1")
    seed(1, os_version="16.2")

    def add_groups(count):
        with app.app_context():
            db.session.add_all([SmartGroup(name=f"g{index}", criteria={"os_version_min": "17.0" if index % 2 else "16.0"},
                                           created_by="admin@example.org") for index in range(count)])
            db.session.commit()

    add_groups(3)
    few = len(page_statements(app, admin_client, "/admin/smart-groups"))
    add_groups(27)
    assert len(page_statements(app, admin_client, "/admin/smart-groups")) == few, "not one count per group"
    html = admin_client.get("/admin/smart-groups").get_data(as_text=True)
    assert sorted(int(n) for n in re.findall(r'data-members="\d+">(\d+)<', html)) == [2] * 14 + [3] * 16


def test_a_smart_group_form_time_an_offset_pushes_past_the_calendar_is_a_form_error(app, admin_client, seed):
    """The form stored such a time, then answered 500, and so did the smart groups page on every visit."""
    seed(1)
    refused = post(admin_client, "/admin/smart-groups", {"name": "g", "last_seen_before": "0001-01-01T00:00:00+01:00"})
    assert refused.status_code == 422 and "years 1 to 9999" in refused.get_data(as_text=True)
    assert admin_client.get("/admin/smart-groups").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(SmartGroup)).all() == []
