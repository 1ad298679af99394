"""PostgreSQL stops under a running portal and starts again: meanwhile every endpoint answers 503 with
Retry-After within a second (never 500, never hanging), and afterwards the same gunicorn and worker
processes carry on: the phones' retries complete the queued work, each command once."""
import time

import httpx

from mdm_core import plist
from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE, COMMAND_CONTENT_TYPE
from tests.helpers import csrf_token_from, local_path
from tests.resilience.stack import ADMIN, Balancer, in_background, join_checked, wait_until


def _signed_in_admin(stack) -> httpx.Client:
    admin = httpx.Client(transport=Balancer(stack.balancer.ports), base_url=stack.env["PUBLIC_URL"], timeout=30)
    token = csrf_token_from(admin.get("/admin/login").text)
    response = admin.post("/admin/login", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token})
    assert response.status_code == 302, response.text
    assert admin.get("/admin/devices").status_code == 200
    return admin


def _unavailable_at_once(send, content_type: str) -> None:
    started = time.monotonic()
    response = send()
    elapsed = time.monotonic() - started
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert elapsed < 1, f"answered after {elapsed:.2f} s"
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith(content_type), response.headers["Content-Type"]


def test_database_down_answers_503_at_once_and_a_restart_needs_no_restart_of_the_portal(stack, cluster):
    node = stack.start_node(workers=2)
    worker = stack.start_worker()
    phones = stack.enroll(3)
    stack.drain()  # the inventory round queued at enrollment, delivered through pushes
    admin = _signed_in_admin(stack)
    web_workers = sorted(node.workers())
    stack.queue(phones)
    wait_until(lambda: stack.pending_pushes() == 0 and all(len(stack.standin.pushes_for(p.token)) > p.pushes_seen
                                                           for p in phones), 15, "the pushes of the new commands")

    cluster.stop("fast")
    woken = in_background(lambda: stack.wake_pushed(time.monotonic() + 60))  # the pushed phones keep retrying
    phone, http = phones[0], stack.http
    checkin, idle = plist.dumps(phone.device.token_update_message()), plist.dumps(phone.device.idle_report())
    for _round in range(2):  # each gunicorn worker meets the outage
        _unavailable_at_once(lambda: http.get("/healthz"), "application/json")
        _unavailable_at_once(lambda: http.put(local_path(phone.device.settings.checkin_url), content=checkin,
                                              headers=phone.device.headers(checkin, CHECKIN_CONTENT_TYPE)), "text/plain")
        _unavailable_at_once(lambda: http.put(local_path(phone.device.settings.server_url), content=idle,
                                              headers=phone.device.headers(idle, COMMAND_CONTENT_TYPE)), "text/plain")
        _unavailable_at_once(lambda: stack.api("GET", "/devices"), "application/json")
        _unavailable_at_once(lambda: stack.api("POST", "/devices/1/commands", json={"request_type": "ProfileList"}),
                             "application/json")
        _unavailable_at_once(lambda: admin.get("/admin/devices"), "text/html")
    time.sleep(1)  # the phones retry meanwhile
    assert woken.is_alive(), "the phones are still waiting for the database"

    cluster.start()
    join_checked(woken, 60)
    assert all("503" in p.failures for p in phones), "every phone met the outage and retried"
    stack.queue(phones)  # the worker that lived through the outage pushes these
    stack.drain()
    stack.assert_commands_done_once()
    assert stack.pushes_by_apns_id().most_common(1)[0][1] == 1, "no push was sent twice"
    assert worker.poll() is None and node.process.poll() is None, "nothing was restarted"
    assert sorted(node.workers()) == web_workers, "no gunicorn worker died"
    assert admin.get("/admin/devices").status_code == 200
    assert "Traceback" not in stack.logs(), stack.logs()
    admin.close()
