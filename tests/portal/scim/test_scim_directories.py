"""The request bodies Entra ID and Okta send (``tests/data/scim``), in the order they send them."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, EndUser, Group, GroupMembership
from tests.portal.scim.bodies import create_group, create_user, guide_body

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _person(app, scim_id):
    with app.app_context():
        return db.session.scalar(select(EndUser).where(EndUser.scim_id == scim_id))


def test_entra_provisions_updates_disables_and_enables_a_user(app, scim):
    found = scim("GET", "/Users", query_string={"filter": 'userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com"'})
    assert found.get_json()["totalResults"] == 0
    created = scim("POST", "/Users", guide_body("entra_create_user"))
    assert created.status_code == 201 and created.content_type.startswith("application/scim+json")
    user = created.get_json()
    assert created.headers["Location"].endswith(f"/scim/v2/Users/{user['id']}")
    assert user["active"] is True and user["meta"]["resourceType"] == "User"
    assert user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] == "Sales"
    # Entra looks it up by userName (case-insensitively), then by externalId
    found = scim("GET", "/Users", query_string={"filter": 'userName eq "test_user_AB6490EE-1e48-479e-a20b-2d77186b5dd1@contoso.com"'})
    assert [r["id"] for r in found.get_json()["Resources"]] == [user["id"]]
    found = scim("GET", "/Users", query_string={"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'})
    assert found.get_json()["totalResults"] == 1

    updated = scim("PATCH", f"/Users/{user['id']}", guide_body("entra_update_user"))
    assert updated.status_code == 200, updated.get_data(as_text=True)
    assert updated.get_json()["emails"][0]["value"] == "updatedEmail@contoso.com"
    assert updated.get_json()["name"]["familyName"] == "updatedFamilyName"

    disabled = scim("PATCH", f"/Users/{user['id']}", guide_body("entra_disable_user"))
    assert disabled.status_code == 200 and disabled.get_json()["active"] is False
    assert _person(app, user["id"]).offboarded_at is not None
    found = scim("GET", "/Users", query_string={"filter": 'active eq false'})
    assert [r["id"] for r in found.get_json()["Resources"]] == [user["id"]]

    enabled = scim("PATCH", f"/Users/{user['id']}", guide_body("entra_enable_user"))
    assert enabled.get_json()["active"] is True and _person(app, user["id"]).offboarded_at is None
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        actors = set(db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action.like("scim.%"))))
    assert actions.count("scim.user.patched") == 3 and "person.offboarded" in actions and "person.reactivated" in actions
    assert actors == {"token:directory"}


def test_entra_documented_user_name_without_an_address_matches_by_email_when_configured(app, scim, monkeypatch):
    monkeypatch.setitem(app.config, "SCIM_MANAGED_APPLE_ID_ATTRIBUTE", "emails")
    body = guide_body("entra_create_user")
    body["userName"] = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"
    created = scim("POST", "/Users", body)
    assert created.status_code == 201, created.get_data(as_text=True)
    person = _person(app, created.get_json()["id"])
    assert person.managed_apple_id == "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@contoso.com"
    found = scim("GET", "/Users", query_string={"filter": 'emails.value eq "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@contoso.com"'})
    assert found.get_json()["totalResults"] == 1
    found = scim("GET", "/Users", query_string={"filter": 'emails[value eq "nobody@contoso.com"]'})
    assert found.get_json()["totalResults"] == 0


def test_entra_groups_adopt_the_sign_in_group_add_remove_rename_and_delete(app, scim):
    member = create_user(scim, "sales.person@example.com")
    with app.app_context():  # the sign-in claim saw "Sales" first
        db.session.add(Group(name="Sales", source="sign_in"))
        db.session.commit()
    created = scim("POST", "/Groups", guide_body("entra_create_group"))
    assert created.status_code == 201, created.get_data(as_text=True)
    group = created.get_json()
    assert group["displayName"] == "Sales" and group["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    with app.app_context():
        assert db.session.scalar(select(Group.source).where(Group.scim_id == group["id"])) == "sign_in"  # adopted

    assert scim("PATCH", f"/Groups/{group['id']}", guide_body("entra_add_member", user=member)).status_code == 204
    read = scim("GET", f"/Groups/{group['id']}").get_json()
    assert [m["value"] for m in read["members"]] == [member]
    assert "members" not in scim("GET", f"/Groups/{group['id']}", query_string={"excludedAttributes": "members"}).get_json()
    assert scim("GET", f"/Users/{member}").get_json()["groups"][0]["display"] == "Sales"
    found = scim("GET", "/Groups", query_string={"excludedAttributes": "members", "filter": 'displayName eq "Sales"'})
    assert [g["id"] for g in found.get_json()["Resources"]] == [group["id"]]
    found = scim("GET", "/Groups", query_string={"filter": f'members.value eq "{member}"'})
    assert found.get_json()["totalResults"] == 1

    assert scim("PATCH", f"/Groups/{group['id']}", guide_body("entra_remove_member", user=member)).status_code == 204
    assert scim("GET", f"/Groups/{group['id']}").get_json()["members"] == []
    assert scim("PATCH", f"/Groups/{group['id']}", guide_body("entra_rename_group")).status_code == 204
    assert scim("GET", f"/Groups/{group['id']}").get_json()["displayName"] == "Sales EMEA"
    assert scim("DELETE", f"/Groups/{group['id']}").status_code == 204
    assert scim("GET", f"/Groups/{group['id']}").status_code == 404


def test_okta_provisions_replaces_and_deactivates_a_user(app, scim):
    found = scim("GET", "/Users", query_string={"filter": 'userName eq "test.user@example.com"', "startIndex": "1", "count": "100"})
    assert found.get_json() == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0,
                                "startIndex": 1, "itemsPerPage": 0, "Resources": []}
    created = scim("POST", "/Users", guide_body("okta_create_user"))
    assert created.status_code == 201, created.get_data(as_text=True)
    user = created.get_json()
    assert "password" not in user and _person(app, user["id"]).scim_resource.get("password") is None
    replaced = scim("PUT", f"/Users/{user['id']}", guide_body("okta_replace_user", user=user["id"]))
    assert replaced.status_code == 200, replaced.get_data(as_text=True)
    assert replaced.get_json()["displayName"] == "Another User" and replaced.get_json()["id"] == user["id"]
    assert _person(app, user["id"]).name == "Another User"
    deactivated = scim("PATCH", f"/Users/{user['id']}", guide_body("okta_deactivate_user"))
    assert deactivated.get_json()["active"] is False
    assert scim("DELETE", f"/Users/{user['id']}").status_code == 204
    assert scim("GET", f"/Users/{user['id']}").status_code == 404
    with app.app_context():  # the person stays (devices' history names them), out of SCIM and offboarded
        person = db.session.scalar(select(EndUser).where(EndUser.managed_apple_id == "test.user@example.com"))
        assert person.scim_id is None and person.offboarded_at is not None


def test_okta_group_push(app, scim):
    first = create_user(scim, "test.user@example.com")
    second = create_user(scim, "other.user@example.com")
    created = scim("POST", "/Groups", guide_body("okta_create_group"))
    assert created.status_code == 201
    group = created.get_json()["id"]
    assert scim("PATCH", f"/Groups/{group}", guide_body("okta_rename_group", group=group)).status_code == 204
    assert scim("GET", f"/Groups/{group}").get_json()["displayName"] == "Test SCIMv2 renamed"
    assert scim("PATCH", f"/Groups/{group}", guide_body("okta_add_members", user=first, user2=second)).status_code == 204
    assert {m["value"] for m in scim("GET", f"/Groups/{group}").get_json()["members"]} == {first, second}
    assert scim("PATCH", f"/Groups/{group}", guide_body("okta_remove_member", user=first)).status_code == 204
    assert [m["value"] for m in scim("GET", f"/Groups/{group}").get_json()["members"]] == [second]
    replaced = scim("PUT", f"/Groups/{group}", guide_body("okta_replace_group", group=group, user2=second))
    assert replaced.status_code == 200 and replaced.get_json()["displayName"] == "Test SCIMv2"
    listed = scim("GET", "/Groups", query_string={"startIndex": "1", "count": "100"}).get_json()
    assert listed["totalResults"] == 1 and listed["Resources"][0]["members"][0]["value"] == second
    with app.app_context():
        rows = db.session.execute(select(GroupMembership.user_id, GroupMembership.source)).all()
    assert len(rows) == 1 and rows[0].source == "scim"


def test_paging_walks_every_user_once(scim):
    ids = {create_user(scim, f"person{i}@example.com") for i in range(7)}
    seen, start = [], 1
    while True:
        page = scim("GET", "/Users", query_string={"startIndex": str(start), "count": "3"}).get_json()
        assert page["totalResults"] == 7
        seen += [r["id"] for r in page["Resources"]]
        if not page["Resources"]:
            break
        start += page["itemsPerPage"]
    assert sorted(seen) == sorted(ids)
    assert scim("GET", "/Users", query_string={"count": "0"}).get_json()["Resources"] == []
    complex_filter = 'userName sw "person1" or (userName ew "6@example.com" and not (active eq false))'
    found = scim("GET", "/Users", query_string={"filter": complex_filter}).get_json()
    assert sorted(r["userName"] for r in found["Resources"]) == ["person1@example.com", "person6@example.com"]


def test_an_eq_filter_finds_non_ascii_names_and_addresses_in_any_case(scim):
    """SQLite's lower() folds ASCII only, so ``displayName eq "Vertrieb Österreich"`` found nothing there: a
    directory looking the group up before creating it POSTed it again and got 409, on every sync."""
    group = create_group(scim, "Vertrieb Österreich")
    user = create_user(scim, "jörg@example.com", displayName="Jörg Ærø")
    for kind, text, found in (("Groups", 'displayName eq "Vertrieb Österreich"', group),
                              ("Groups", 'displayName eq "VERTRIEB ÖSTERREICH"', group),
                              ("Users", 'displayName eq "jörg ærø"', user),
                              ("Users", 'emails.value eq "JÖRG@example.com"', user),
                              ("Users", 'emails co "Ö"', user)):
        listed = scim("GET", f"/{kind}", query_string={"filter": text}).get_json()
        assert [r["id"] for r in listed["Resources"]] == [found], text


def test_entra_disables_a_user_in_the_patch_that_fills_in_attributes_they_lacked(app, scim):
    """Entra sends every changed attribute of a user in one PATCH, and fills in a number or an address the user did
    not have with a filtered path (``Add phoneNumbers[type eq "mobile"].value``). That was refused (noTarget), and
    with it the ``active: False`` of the same PATCH: the leaver stayed active and their phones kept the
    organisation's data, on every sync."""
    user = scim("POST", "/Users", guide_body("entra_create_user")).get_json()
    assert "phoneNumbers" not in user
    added = scim("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555 0100"}]})
    assert added.status_code == 200, added.get_data(as_text=True)
    body = {"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0199"},
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Redmond"},
        {"op": "Replace", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555 0101"},
        {"op": "Replace", "path": "active", "value": "False"}]}
    disabled = scim("PATCH", f"/Users/{user['id']}", body)
    assert disabled.status_code == 200, disabled.get_data(as_text=True)
    resource = disabled.get_json()
    assert resource["active"] is False and _person(app, user["id"]).offboarded_at is not None
    assert resource["phoneNumbers"] == [{"type": "work", "value": "+1 555 0101"},
                                        {"type": "mobile", "value": "+1 555 0199"}]
    assert resource["addresses"] == [{"type": "work", "locality": "Redmond"}]


def test_a_manager_is_accepted_as_entra_and_okta_send_it(app, scim):
    """Entra's default mappings send the manager as a bare id (``"value": "<id>"`` on the extension's ``manager``
    path), and directories send it as ``{"value": "<id>"}`` without ``$ref`` on create and replace: all were
    refused (invalidValue), so a user with a manager failed to provision or update on every sync."""
    boss = create_user(scim, "boss@example.com")
    body = guide_body("entra_create_user")
    body[ENTERPRISE]["manager"] = {"value": boss}
    created = scim("POST", "/Users", body)
    assert created.status_code == 201, created.get_data(as_text=True)
    user = created.get_json()
    assert user[ENTERPRISE]["manager"]["value"] == boss
    assert user[ENTERPRISE]["manager"]["$ref"].endswith(f"/scim/v2/Users/{boss}")

    other = create_user(scim, "other.boss@example.com")
    patched = scim("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": other}]})
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert patched.get_json()[ENTERPRISE]["manager"]["value"] == other
    patched = scim("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "value": {f"{ENTERPRISE}:manager": boss}}]})
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert patched.get_json()[ENTERPRISE]["manager"]["value"] == boss

    replacement = {**body, ENTERPRISE: {"department": "Sales", "manager": other}}
    replaced = scim("PUT", f"/Users/{user['id']}", replacement)
    assert replaced.status_code == 200, replaced.get_data(as_text=True)
    assert replaced.get_json()[ENTERPRISE]["manager"]["value"] == other


def test_entra_removing_a_member_the_server_no_longer_knows_removes_the_rest(app, scim):
    """A user deleted before the group PATCH removing them arrives (Entra orders its calls as it likes) is not a
    member any more. Okta's form (``members[value eq "<id>"]``) removed nothing and answered 204; Entra's (a
    ``value`` list) answered 400 for the whole PATCH, left the other members it named in the group, and failed
    again on every sync."""
    leaver, mover, stayer = (create_user(scim, f"{n}@example.com") for n in ("leaver", "mover", "stayer"))
    group = create_group(scim, "Sales", leaver, mover, stayer)
    assert scim("DELETE", f"/Users/{leaver}").status_code == 204
    body = guide_body("entra_remove_member", user=leaver)
    body["Operations"][0]["value"].append({"value": mover})
    removed = scim("PATCH", f"/Groups/{group}", body)
    assert removed.status_code == 204, removed.get_data(as_text=True)
    assert [m["value"] for m in scim("GET", f"/Groups/{group}").get_json()["members"]] == [stayer]
    with app.app_context():
        moved = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "scim.group.patched"))
        assert moved.detail["people_moved"] == 1
