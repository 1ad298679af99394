"""The console's lists at scale (from the scale review): the declarations page (and, below, the apps and bulk
command pages) once listed every row of its table and counted the status of every device for each, where the
profile library, device and migration pages show one page.

At 10,000 user-enrolled devices the declarations page took 460 ms with 20 declarations and 878 ms with 50 (each
declaration's statuses are counted over the whole fleet), with no way to see fewer. A page of at most
MAX_PAGE_SIZE (500) rows is the most any list of the product shows; these tests add one more than that."""
import re

from sqlalchemy import insert

from portal.extensions import db
from portal.models import App, Declaration
from portal.paging import MAX_PAGE_SIZE

ROWS = MAX_PAGE_SIZE + 1


def _declarations(app, count: int) -> None:
    with app.app_context():
        db.session.execute(insert(Declaration), [
            {"type": "com.apple.configuration.passcode.settings", "identifier": f"org.example.review.d{i:04d}",
             "kind": "configuration", "payload": {"MinimumLength": 6}, "server_token": f"t{i}", "problems": [],
             "variables": "", "refers_to": []} for i in range(count)])
        db.session.commit()


def _apps(app, count: int) -> None:
    with app.app_context():
        db.session.execute(insert(App), [
            {"source": "vpp", "adam_id": str(100000 + i), "name": f"Review App {i:04d}", "bundle_id": f"org.example.a{i}",
             "licenses_total": 10, "licenses_assigned": 0, "licenses_available": 10} for i in range(count)])
        db.session.commit()

def test_the_declarations_page_shows_one_page_of_declarations_not_all_of_them(app, admin_client):
    _declarations(app, ROWS)

    response = admin_client.get("/admin/declarations")

    assert response.status_code == 200
    shown = set(re.findall(r"org\.example\.review\.d\d{4}", response.get_data(as_text=True)))
    assert len(shown) <= MAX_PAGE_SIZE, f"the page lists all {len(shown)} declarations, with their counts"


def test_the_declarations_page_links_the_next_page_which_shows_the_rest(app, admin_client):
    _declarations(app, 3)

    first = admin_client.get("/admin/declarations?limit=2").get_data(as_text=True)
    cursor = re.search(r'href="/admin/declarations\?cursor=(\d+)" rel="next"', first)
    second = admin_client.get(f"/admin/declarations?cursor={cursor.group(1)}&limit=2").get_data(as_text=True)

    assert set(re.findall(r"org\.example\.review\.d\d{4}", first)) == {"org.example.review.d0000", "org.example.review.d0001"}
    assert set(re.findall(r"org\.example\.review\.d\d{4}", second)) == {"org.example.review.d0002"}
    assert 'rel="next"' not in second


def test_the_apps_page_shows_one_page_of_the_catalogue_not_all_of_it(app, admin_client):
    _apps(app, ROWS)

    response = admin_client.get("/admin/apps")

    assert response.status_code == 200
    shown = set(re.findall(r"Review App \d{4}", response.get_data(as_text=True)))
    assert len(shown) <= MAX_PAGE_SIZE, f"the page lists all {len(shown)} apps of the catalogue, with their counts"


def test_the_apps_page_links_the_next_page_of_the_catalogue(app, admin_client):
    _apps(app, 3)

    first = admin_client.get("/admin/apps?limit=2").get_data(as_text=True)
    cursor = re.search(r'href="/admin/apps\?cursor=(\d+)" rel="next"', first)
    second = admin_client.get(f"/admin/apps?cursor={cursor.group(1)}&limit=2").get_data(as_text=True)

    assert set(re.findall(r"Review App \d{4}", first)) == {"Review App 0000", "Review App 0001"}
    assert set(re.findall(r"Review App \d{4}", second)) == {"Review App 0002"}


def test_the_bulk_command_page_shows_one_page_of_results_not_every_device(app, admin_client):
    """A bulk command reaches up to 10,000 devices: its page rendered 1.4 MB in 323 ms, every time it is reloaded
    to follow the progress."""
    from portal.models import BulkCommand, Command, Device

    with app.app_context():
        db.session.add(BulkCommand(id="b0000000-0000-0000-0000-000000000001", request_type="DeviceInformation",
                                   queued=ROWS, refused=[]))
        db.session.execute(insert(Device), [
            {"id": i + 1, "enrollment_type": "user", "enrollment_method": "api", "enrollment_id": f"e{i}",
             "status": "enrolled", "managed_apple_id": f"person{i:04d}@example.org",
             "certificate_fingerprint": f"{i:064x}"} for i in range(ROWS)])
        db.session.execute(insert(Command), [
            {"command_uuid": f"c{i}", "device_id": i + 1, "request_type": "DeviceInformation", "payload": b"<plist/>",
             "status": "queued", "bulk_id": "b0000000-0000-0000-0000-000000000001"} for i in range(ROWS)])
        db.session.commit()

    response = admin_client.get("/admin/bulk/b0000000-0000-0000-0000-000000000001")

    assert response.status_code == 200
    shown = set(re.findall(r"person\d{4}@example\.org", response.get_data(as_text=True)))
    assert len(shown) <= MAX_PAGE_SIZE, f"the page lists all {len(shown)} devices of the bulk command"
    named = re.search(r'<progress [^>]*aria-labelledby="([^"]+)"', response.get_data(as_text=True))
    assert named and f'id="{named.group(1)}"' in response.get_data(as_text=True), "the progress bar has a name"


def test_the_bulk_command_page_links_the_next_page_of_devices_with_the_refused_among_them(app, admin_client):
    from portal.models import BulkCommand, Command, Device

    with app.app_context():
        db.session.add(BulkCommand(id="b0000000-0000-0000-0000-000000000002", request_type="DeviceInformation",
                                   queued=2, refused=[{"device_id": 9, "reason": "no such device"}]))
        db.session.execute(insert(Device), [
            {"id": i + 1, "enrollment_type": "user", "enrollment_method": "api", "enrollment_id": f"e{i}",
             "status": "enrolled", "managed_apple_id": f"person{i:04d}@example.org",
             "certificate_fingerprint": f"{i:064x}"} for i in range(2)])
        db.session.execute(insert(Command), [
            {"command_uuid": f"c{i}", "device_id": i + 1, "request_type": "DeviceInformation", "payload": b"<plist/>",
             "status": "queued", "bulk_id": "b0000000-0000-0000-0000-000000000002"} for i in range(2)])
        db.session.commit()

    first = admin_client.get("/admin/bulk/b0000000-0000-0000-0000-000000000002?limit=2").get_data(as_text=True)
    cursor = re.search(r'href="/admin/bulk/b0000000-0000-0000-0000-000000000002\?cursor=(\d+)" rel="next"', first)
    rest = admin_client.get(f"/admin/bulk/b0000000-0000-0000-0000-000000000002?cursor={cursor.group(1)}"
                            ).get_data(as_text=True)

    assert re.findall(r"person\d{4}@example\.org", first) == ["person0000@example.org", "person0001@example.org"]
    assert "refused: no such device" in rest and "person0001" not in rest and 'rel="next"' not in rest
    assert 'data-count="refused">1<' in rest
