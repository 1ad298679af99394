"""Plain helper functions shared by test modules (fixtures live in the conftest files).

Test modules import these from here, never from a conftest or from another test module, so that
pytest imports each conftest and each test module only once, as itself."""
from __future__ import annotations

import datetime
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import Command

REPO = Path(__file__).resolve().parents[1]
PROFILE_CORPUS = REPO / "tests" / "data" / "profiles"  # real-world .mobileconfig shapes, README.md lists verdicts
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
IOS17 = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1")


def csrf_token_from(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def command_count(app) -> int:
    """Commands in the queue, of every device: what a refused request must not have added to."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Command))


def page_statements(app, client, path: str) -> list[str]:
    """The SQL statements a GET of ``path`` runs (it must answer 200): a list page's count must not grow with rows."""
    from sqlalchemy import event

    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert response.status_code == 200, (path, response.status_code)
    return statements


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def demo_sign_in(client, user: str = "demo-alice", next_path: str = "/enroll/privacy", action: str = "sign_in"):
    """Start sign-in, pick a demo person at the demo IdP, and follow the callback; returns the callback response."""
    start = client.get(f"/auth/login?next={next_path}")
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize = local_path(start.location)
    form = client.get(authorize)
    response = client.post(authorize, data={"csrf_token": csrf_token_from(form.get_data(as_text=True)),
                                            "user": user, "action": action})
    assert response.status_code == 302
    return client.get(local_path(response.location))


def acknowledge(client):
    """Post the privacy form of ``/enroll/privacy`` as the signed-in employee, box ticked."""
    page = client.get("/enroll/privacy").get_data(as_text=True)
    version = re.search(r'name="version" value="([^"]+)"', page).group(1)
    return client.post("/enroll/privacy", data={"csrf_token": csrf_token_from(page), "version": version,
                                                "acknowledge": "yes"})


def self_signed(common_name: str = "wifi.example.org"):
    """A small certificate and its key (EC, quick to make) for certificate and identity assets."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return certificate, key


def with_unknown_key_algorithm(der: bytes) -> bytes:
    """An EC certificate's or CSR's DER with its key named by an algorithm cryptography cannot load
    (id-ecPublicKey made 1.2.840.10045.2.9): it loads, and reading its key raises UnsupportedAlgorithm."""
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")
    assert ec_public_key in der
    return der.replace(ec_public_key, bytes.fromhex("06072a8648ce3d0209"), 1)


def identity_p12(password: bytes) -> bytes:
    """A PKCS #12 identity that opens with ``password``."""
    certificate, key = self_signed()
    return pkcs12.serialize_key_and_certificates(b"wifi", key, certificate, None, BestAvailableEncryption(password))


def page_of(client, path):
    """A console page's HTML, asserting it answered 200."""
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def post_form(client, path, data, page="/admin/declarations", **kwargs):
    """POST a console form with the CSRF token of ``page``."""
    return client.post(path, data={"csrf_token": csrf_token_from(page_of(client, page)), **data}, **kwargs)


def in_house_app(api) -> int:
    """The id of a new in-house app (no Apps and Books location needed)."""
    return api("POST", "/apps", json={"manifest_url": "https://apps.example.org/m.plist", "name": "A",
                                      "bundle_id": "org.example.a"}).get_json()["id"]


def pem_of(identity) -> tuple[bytes, bytes]:
    """An identity's certificate and unencrypted PKCS#8 key, as PEM (what an admin uploads)."""
    return (identity.certificate.public_bytes(serialization.Encoding.PEM),
            identity.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))


def until_waiting(app, thread: threading.Thread, locktype: str | None = None) -> None:
    """Until ``thread`` ends or a transaction waits for a lock (of ``locktype``); ten seconds at most."""
    deadline = time.monotonic() + 10
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted AND (CAST(:kind AS text) IS NULL OR locktype = :kind)")
    with app.app_context(), db.engine.connect() as other:
        while thread.is_alive() and time.monotonic() < deadline and not other.scalar(query, {"kind": locktype}):
            time.sleep(0.02)


def commit_while_waiting(app, work) -> None:
    """Start ``work`` in a thread, wait until it waits for a lock (or ends), commit the caller's session, then let it
    finish: ``work`` races a transaction the caller holds open."""
    racing = threading.Thread(target=work)
    racing.start()
    until_waiting(app, racing)
    db.session.commit()
    racing.join(30)


def recorded(outcome: dict, name: str, work) -> None:
    """Run ``work`` and commit, in the caller's context; ``outcome[name]`` says "done" or the error (the finding)."""
    try:
        work()
        db.session.commit()
        outcome[name] = "done"
    except Exception as exc:  # noqa: BLE001 (any failure is the finding)
        db.session.rollback()
        outcome[name] = repr(exc)
