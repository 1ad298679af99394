"""The scope editor apps and profiles share (``portal.admin.scope_form.edit_scope``), on an app: hostile names
escaped, a deleted app 404, bad input a 4xx saying why, and a smart group beyond the boxes the page lists kept by a
save that changes nothing."""
import html as htmllib
import re

from sqlalchemy import insert, select
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.models import App, Group, ScopeTarget, SmartGroup
from portal.models.base import utcnow
from tests.helpers import csrf_token_from


def _app(app, **columns):
    with app.app_context():
        item = App(source="manifest", manifest_url="https://apps.example.org/x.plist", bundle_id="com.example.x",
                   **columns)
        db.session.add(item)
        db.session.commit()
        return item.id


def _form_as_shown(page: str) -> list[tuple[str, str]]:
    """What a browser submits for the page's form as it shows it (ticked boxes, textareas)."""
    fields = [(n, htmllib.unescape(v)) for n, v in
              re.findall(r'<input type="checkbox" name="([^"]+)" value="([^"]*)" checked>', page)]
    fields += [(n, "on") for n in re.findall(r'<input type="checkbox" id="[^"]+" name="([^"]+)" checked>', page)]
    fields += [(n, htmllib.unescape(v)) for n, v in
               re.findall(r'<textarea id="[^"]+" name="([^"]+)" rows="2">([^<]*)</textarea>', page)]
    return fields


def test_hostile_names_are_escaped_and_a_deleted_app_is_404(app, admin_client):
    app_id = _app(app, name="<script>alert(1)</script>")
    with app.app_context():
        db.session.add(Group(name='"><img src=x onerror=alert(2)>', source="sign_in"))
        db.session.add(SmartGroup(name="<b>smart</b>", criteria={"os_version_min": "18.0"}))
        db.session.commit()
    page = admin_client.get(f"/admin/apps/{app_id}/scope").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page and "<b>smart</b>" not in page
    with app.app_context():
        db.session.get(App, app_id).deleted_at = utcnow()
        db.session.commit()
    assert admin_client.get(f"/admin/apps/{app_id}/scope").status_code == 404
    assert admin_client.post(f"/admin/apps/{app_id}/scope", data={"csrf_token": csrf_token_from(page)}).status_code == 404


def test_bad_input_is_4xx(app, admin_client):
    app_id = _app(app, name="Notes")
    path = f"/admin/apps/{app_id}/scope"
    token = csrf_token_from(admin_client.get(path).get_data(as_text=True))
    for data in ({"users": "a\x00b@example.org"}, {"groups_other": "x\x00y"}, {"smart_groups": "987654"},
                 {"exclude.smart_groups": "-1"}, {"users": "not an id"}, {"groups_other": "g" * 5000}):
        response = admin_client.post(path, data={"csrf_token": token, "action": "save", **data})
        assert 400 <= response.status_code < 500, (data, response.status_code)
        assert "Not allowed:" in response.get_data(as_text=True), data


def test_an_app_scoped_to_a_smart_group_the_page_does_not_list_keeps_it_when_the_page_is_saved(app, admin_client):
    app_id = _app(app, name="Notes")
    with app.app_context():
        db.session.execute(insert(SmartGroup), [{"name": f"g{n:04d}", "criteria": {"os_version_min": "18.0"},
                                                 "created_at": utcnow()} for n in range(1001)])
        last = db.session.scalar(select(SmartGroup.id).where(SmartGroup.name == "g1000"))
        db.session.commit()
    path = f"/admin/apps/{app_id}/scope"
    page = admin_client.get(path).get_data(as_text=True)
    # set by id (as the API can), beyond the first 1,000 by name the page offers
    saved = admin_client.post(path, data={"csrf_token": csrf_token_from(page), "smart_groups": str(last),
                                          "groups_other": "design", "action": "save"})
    assert saved.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(ScopeTarget.id).where(ScopeTarget.smart_group_id == last)), "first save kept it"
    page = admin_client.get(path).get_data(as_text=True)
    # the admin changes nothing and saves the page as shown
    resaved = admin_client.post(path, data=MultiDict([("csrf_token", csrf_token_from(page)), ("action", "save"),
                                                      *_form_as_shown(page)]))
    assert resaved.status_code == 303
    with app.app_context():
        kept = db.session.execute(select(ScopeTarget.value, ScopeTarget.smart_group_id).where(ScopeTarget.item_id == app_id)).all()
    assert any(row.smart_group_id == last for row in kept), f"the smart group was dropped by a save that changed nothing: {kept}"


def test_a_form_naming_more_smart_groups_than_a_statement_takes_is_refused_saying_why(app, admin_client):
    app_id = _app(app, name="Notes")
    path = f"/admin/apps/{app_id}/scope"
    token = csrf_token_from(admin_client.get(path).get_data(as_text=True))
    form = [("csrf_token", token), ("action", "preview")] + [("smart_groups", str(i)) for i in range(1, 66_001)]
    response = admin_client.post(path, data=MultiDict(form))
    assert response.status_code == 400 and "Not allowed:" in response.get_data(as_text=True)
