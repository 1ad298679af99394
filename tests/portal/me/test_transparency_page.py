"""The employee's /me page shows exactly what the server holds about their own devices."""
from sqlalchemy import select

from portal.extensions import db
from portal.inventory.disclosure import holdings
from portal.models import Device, DeviceInventory, EndUser
from tests.helpers import demo_sign_in


def test_signed_in_employee_sees_their_devices_with_the_admins_fields_and_nothing_forbidden(app, client, seed,
                                                                                           admin_client):
    assert client.get("/me/").status_code == 302, "sign-in first"
    demo_sign_in(client, next_path="/me/")
    with app.app_context():
        user = db.session.scalar(select(EndUser))
        mine, = seed(1, managed_apple_id=user.managed_apple_id, device_name="Alice's iPhone")
        theirs, = seed(1, managed_apple_id="someone-else@example.org", device_name="Bob's iPhone")
        db.session.add(DeviceInventory(device_id=mine, facts={"OSVersion": "17.5.1", "SerialNumber": "F2LXSECRET"},
                                       security={}))
        db.session.commit()
        admin_labels = [label for label, _ in holdings(db.session.get(Device, mine)).facts]
    page = client.get("/me/").get_data(as_text=True)
    assert "Alice&#39;s iPhone" in page and "Bob" not in page
    assert "F2LXSECRET" not in page, "a forbidden field never shows, even if stored"
    assert admin_labels == ["iOS version"] and "iOS version" in page
    assert "Remove Management" in page
    admin_page = admin_client.get(f"/admin/devices/{mine}").get_data(as_text=True)
    assert "F2LXSECRET" not in admin_page and "iOS version" in admin_page
