"""In-process CPU per command-connection request, for comparing two checkouts of the code.

Run from a checkout's root: ``python benchmarks/connect_cpu.py POSTGRES_URL [N]`` (the database's public
schema is DROPPED). It builds the app on that database, enrolls one simulated phone, then measures
``process_time`` around N WSGI calls of ``PUT /mdm/connect``: Idle on an empty queue (environs built
before the clock starts) and acknowledged ``DeviceInformation`` answers that each hand out the next
command. Prints JSON. Alternate two checkouts several times: on a shared VM one run varies by ~10 %.

``AB_CALLGRIND=idle`` or ``ack`` under ``valgrind --tool=callgrind --instr-atstart=no`` switches
instrumentation on only around that loop: an instruction count that does not depend on the host's load
(the ack loop includes the phone's signing between requests, identical for both checkouts).
"""
import gc
import io
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.getcwd())
import httpx
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from mdm_core import plist
from mdm_core.simulator.device import SimulatedDevice
from portal import create_app
from portal.extensions import db

url = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
engine = create_engine(url)
with engine.begin() as c:
    c.execute(text("DROP SCHEMA public CASCADE")); c.execute(text("CREATE SCHEMA public"))
engine.dispose()
app = create_app({"DATABASE_URL": url, "SECRET_KEY": "inprocess-ab-secret-0123456789abcdef0123", "PUBLIC_URL": "http://127.0.0.1:8000"})
with app.app_context():
    upgrade()
    from portal.models import ApiToken
    from portal.models.api_token import SCOPES
    row, token = ApiToken.issue("ab", tuple(SCOPES)); db.session.add(row); db.session.commit()
http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://127.0.0.1:8000")
auth = {"Authorization": f"Bearer {token}"}
r = http.post("/api/v1/enrollment-profiles", headers=auth, json={"enrollment_type": "user", "managed_apple_id": "a@example.org"})
assert r.status_code == 201, r.text
phone = SimulatedDevice(enrollment_type="user")
phone.install_profile(r.content, http)
phone.poll(http)
device_id = http.get("/api/v1/devices", headers=auth).json()["devices"][0]["id"]
CT = "application/x-apple-aspen-mdm"

def environ(body, headers):
    env = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/mdm/connect", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
           "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
           "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.errors": sys.stderr, "wsgi.multithread": False,
           "wsgi.multiprocess": True, "wsgi.run_once": False, "QUERY_STRING": "", "SCRIPT_NAME": ""}
    for k, v in headers.items():
        key = k.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE",) else "HTTP_" + key] = v
    return env

status_seen = []
def start_response(status, headers, exc_info=None):
    status_seen.append(status)

CALLGRIND = os.environ.get("AB_CALLGRIND")
def toggle(state):
    """Under callgrind: switch instrumentation; the busy loop lets valgrind poll for the command."""
    if not CALLGRIND:
        return
    p = subprocess.Popen(["callgrind_control", "-i", state, str(os.getpid())], stdout=subprocess.DEVNULL)
    while p.poll() is None:
        pass

def call(env):
    out = app.wsgi_app(env, start_response)
    body = b"".join(out)
    if hasattr(out, "close"): out.close()
    return body

idle = plist.dumps(phone.idle_report()); idle_headers = phone.headers(idle, CT)
gc.collect(); gc.freeze()
for _ in range(200): call(environ(idle, idle_headers))
envs = [environ(idle, idle_headers) for _ in range(n)]
toggle("on") if CALLGRIND == "idle" else None
t = time.process_time()
for env in envs: call(env)
toggle("off") if CALLGRIND == "idle" else None
idle_ms = (time.process_time() - t) * 1000 / n
assert all(s.startswith("200") for s in status_seen[-n:]), set(status_seen[-n:])
for _ in range(n + 50):
    r = http.post(f"/api/v1/devices/{device_id}/commands", headers=auth, json={"request_type": "DeviceInformation", "Queries": ["OSVersion", "BuildVersion", "ModelName", "DeviceName"]})
    assert r.status_code == 201, r.text
command = call(environ(idle, idle_headers))
spent = 0.0
for i in range(n + 40):
    _ex, report = phone.report_for(command)
    body = plist.dumps(report); env = environ(body, phone.headers(body, CT))
    if i == 40 and CALLGRIND == "ack": toggle("on")
    t = time.process_time(); command = call(env); dt = time.process_time() - t
    if i >= 40: spent += dt
toggle("off") if CALLGRIND == "ack" else None
ack_ms = spent * 1000 / n
print(json.dumps({"idle_ms": round(idle_ms, 4), "ack_ms": round(ack_ms, 4)}))
