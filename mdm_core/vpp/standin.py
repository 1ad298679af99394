"""A local stand-in for Apple's Apps and Books for Organizations API, for tests, demos and benchmarks.

Apple's service cannot be reached from a test machine, so this speaks the same protocol over the
same transport: HTTPS (a throwaway CA of its own and a server certificate it issued),
``Authorization: Bearer <sToken>``, the v2 paths and JSON of Apple's documentation, paging, and
asynchronous events that complete after a configurable delay (the rules: :mod:`.standin_state`).
Switches inject what the real service does on a bad day: 429 with ``Retry-After``, 5xx, an expired
token. ``calls`` counts requests by path.

Outside Apple's paths, for the simulated phones and the benchmarks: ``GET /lookup?id=...`` answers in
the iTunes lookup format (names and bundle IDs of the location's apps, for ``ITUNES_LOOKUP_URL``),
``GET /standin/license?managedAppleId=...&adamId=...`` says whether that user holds a license (what
the App Store tells a phone asked to install the app), ``GET /standin/stats`` counts the calls.

Run ``python -m mdm_core.vpp.standin --demo DIR`` for a demo (see ``--help``; ``make run`` does): DIR keeps
its CA, its content token and, from one run to the next, the location (users, licenses), saved when it stops.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.server
import json
import logging
import os
import signal
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization

from .. import bounded_json
from ..apns.standin_pki import issue_server_certificate
from ..ca import create_ca
from .standin_state import ERROR_MESSAGES, StandinError, StandinState
from .token import format_date, make_content_token, parse_content_token

log = logging.getLogger("mdm_core.vpp.standin")

PREFIX = "/mdm/v2/"
STATE_FILE = "standin-state.json"  # in the --demo folder: the location, kept from one run to the next
MAX_BODY = 1024 * 1024
_GET = {"service/config", "client/config", "assets", "assignments", "users", "status"}
_POST = {"client/config", "users/create", "users/update", "users/retire", "assets/associate",
         "assets/disassociate"}


class VppStandin:
    """The stand-in server, run from a thread: ``VppStandin().start()``; ``url``, ``ca_bundle``,
    ``stoken`` (a content token's text, ``token_file`` the whole file) and ``state`` for the test.

    The switch methods apply to the next authenticated requests, whatever their path.
    """

    def __init__(self, *, directory: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 organization: str = "Example Organization", delay: float = 0.0, page_size: int = 1000,
                 token_expires_at: dt.datetime | None = None, state: StandinState | None = None) -> None:
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="vpp-standin-")
        self.directory = Path(directory or self._tmp.name)
        self.host, self.port = host, port
        self.state = state or StandinState(organization=organization, delay=delay, page_size=page_size)
        self.token_file = make_content_token(organization, expires_at=token_expires_at)
        self.token = parse_content_token(self.token_file)
        self.calls: collections.Counter[str] = collections.Counter()
        self._faults: collections.deque[tuple[int, int, float | None]] = collections.deque()
        self._expired = False
        self._fault_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.ca_bundle, cert, key = self._write_pki()
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.load_cert_chain(str(cert), str(key))

    @property
    def stoken(self) -> str:
        return self.token.stoken

    @property
    def root_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL, as ``VPP_ENDPOINT`` takes it."""
        return self.root_url + PREFIX

    def _write_pki(self) -> tuple[str, Path, Path]:
        ca_file, cert_file, key_file = (self.directory / n for n in ("vpp-ca.pem", "vpp-cert.pem", "vpp-key.pem"))
        if not (ca_file.exists() and cert_file.exists() and key_file.exists()):
            ca = create_ca("Stand-in Apps and Books CA", "Apps and Books stand-in")
            server = issue_server_certificate(ca, (self.host, "localhost"))
            self.directory.mkdir(parents=True, exist_ok=True)
            ca_file.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
            cert_file.write_bytes(server.certificate.public_bytes(serialization.Encoding.PEM))
            key_file.touch(mode=0o600)
            key_file.write_bytes(server.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return str(ca_file), cert_file, key_file

    # -- switches -----------------------------------------------------------------------------
    def rate_limit_next(self, times: int = 1, retry_after: float = 1.0) -> None:
        """Answer the next ``times`` requests 429, errorNumber 9646, ``Retry-After: retry_after``."""
        with self._fault_lock:
            self._faults.extend([(429, 9646, retry_after)] * times)

    def fail_next(self, times: int = 1, status: int = 503) -> None:
        """Answer the next ``times`` requests with this 5xx (errorNumber 9603, internal error)."""
        with self._fault_lock:
            self._faults.extend([(status, 9603, None)] * times)

    def expire_token(self, expired: bool = True) -> None:
        """Answer every request 401 with errorNumber 9621 (the token has expired) until called with False."""
        self._expired = expired

    # -- running ------------------------------------------------------------------------------
    def start(self) -> VppStandin:
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="vpp-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> VppStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the rules ----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: Any,
               body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """One request -> (status, JSON answer, extra headers)."""
        if path in _EXTRAS and method == "GET":
            return 200, _EXTRAS[path](self, query), {}
        route = path[len(PREFIX):] if path.startswith(PREFIX) else None
        self.calls[route or path] += 1
        if route not in _GET | _POST:
            return 404, {"errorNumber": 9602, "errorMessage": "Not found."}, {}
        if (method == "GET" and route not in _GET) or (method == "POST" and route not in _POST) or \
                method not in ("GET", "POST"):
            raise StandinError(405, 9726)
        if route == "service/config":
            return 200, self.service_config(), {}
        self._authenticate(headers.get("Authorization", ""))
        with self._fault_lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            status, code, retry_after = fault
            extra = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            return status, StandinError(status, code).body(), extra
        payload = None
        if method == "POST":
            if not headers.get("Content-Type", "").startswith("application/json"):
                raise StandinError(400, 9727)
            try:
                payload = bounded_json.loads(body)
            except ValueError:
                raise StandinError(400, 9602) from None
        state = self.state
        with state.lock:
            state.complete_due()
            answer = self._route(route, method, query, payload)
        answer.update(tokenExpirationDate=format_date(self.token.expires_at), uId=state.uid)
        return 200, answer, {}

    def _authenticate(self, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token:
            raise StandinError(401, 9722)
        if token.strip() != self.stoken:
            raise StandinError(401, 9601)
        if self._expired or self.token.expired():
            raise StandinError(401, 9621)

    def _route(self, route: str, method: str, query: dict[str, str], payload: Any) -> dict[str, Any]:
        state = self.state
        if route == "client/config":
            return state.set_client_config(payload) if method == "POST" else state.client_config_answer()
        if route == "status":
            return state.event_status(query.get("eventId", ""))
        if route == "assets":
            return state.page(state.asset_rows(query), "assets", query.get("pageIndex"))
        if route == "users":
            return state.page(state.user_rows(query), "users", query.get("pageIndex"))
        if route == "assignments":
            return state.page(state.assignment_rows(query), "assignments", query.get("pageIndex"))
        if route.startswith("users/"):
            return state.manage_users(route.split("/")[1], payload)
        return state.manage_assets(route.split("/")[1], payload)

    def service_config(self) -> dict[str, Any]:
        urls = {key: self.url + path for key, path in (
            ("clientConfig", "client/config"), ("getAssets", "assets"), ("getAssignments", "assignments"),
            ("getUsers", "users"), ("createUsers", "users/create"), ("updateUsers", "users/update"),
            ("retireUsers", "users/retire"), ("associateAssets", "assets/associate"),
            ("disassociateAssets", "assets/disassociate"), ("eventStatus", "status"))}
        return {"errorCodes": [{"errorNumber": n, "errorMessage": m} for n, m in sorted(ERROR_MESSAGES.items())],
                "limits": dict(self.state.limits), "urls": urls,
                "notificationTypes": ["ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED", "ASSET_COUNT"]}


_EXTRAS = {
    "/lookup": lambda standin, query: standin.state.lookup(query.get("id", "")),
    "/standin/license": lambda standin, query: {"licensed": standin.state.holds_license(
        query.get("managedAppleId", ""), query.get("adamId", ""))},
    "/standin/stats": lambda standin, query: {"calls": dict(standin.calls)},
}


def remote_license_check(root_url: str, ca_bundle: str) -> Callable[[str, str], bool]:
    """A simulated phone's ``license_check`` against a stand-in in another process (``root_url``: its
    ``https://host:port``). Thread-safe; one kept-alive connection pool per check."""
    http = httpx.Client(base_url=root_url, verify=ssl.create_default_context(cafile=ca_bundle), timeout=30)

    def holds_license(managed_apple_id: str, adam_id: str) -> bool:
        response = http.get("/standin/license", params={"managedAppleId": managed_apple_id, "adamId": adam_id})
        response.raise_for_status()
        return response.json().get("licensed") is True

    return holds_license


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, standin: VppStandin) -> None:
        self.standin = standin
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept, and leave the TLS handshake to the connection's own thread."""
        sock, address = self.socket.accept()
        return self.standin.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Apple's service offers
    timeout = 30  # an idle kept-alive connection is closed after this
    wbufsize = 64 * 1024  # headers and body leave in one write (two small writes meet delayed ACKs: 40 ms)
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            self.rfile = self.wfile = None

    def handle(self) -> None:
        if self.rfile is not None:
            super().handle()

    def finish(self) -> None:
        if self.rfile is not None:
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        standin: VppStandin = self.server.standin
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            self._answer(413, {"errorNumber": 9602, "errorMessage": "Request too large."}, {})
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        split = urlsplit(self.path)
        try:
            status, answer, extra = standin.handle(method, split.path, dict(parse_qsl(split.query)), self.headers,
                                                   body)
        except StandinError as refused:
            status, answer, extra = refused.status, refused.body(), {}
        self._answer(status, answer, extra)

    def _answer(self, status: int, answer: dict[str, Any], extra: dict[str, str]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mdm_core.vpp.standin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, metavar="DIR", required=True,
                        help="keep the stand-in's CA, certificate, content token (.vpptoken) and location in DIR")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds until an event completes")
    parser.add_argument("--asset", action="append", default=[], metavar="ADAMID[:LICENSES]",
                        help="an app the location owns, with its license count (default 100); repeatable")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(message)s")
    standin = VppStandin(directory=args.demo, host=args.host, port=args.port, delay=args.delay)
    token_path, state_path = args.demo / "standin.vpptoken", args.demo / STATE_FILE
    if token_path.exists():
        token_path.chmod(0o600)  # one an earlier version wrote readable by all
        standin.token_file = token_path.read_bytes()
        standin.token = parse_content_token(standin.token_file)
    else:  # a token is a credential, the stand-in's too: readable by its owner only
        with os.fdopen(os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as token_file:
            token_file.write(standin.token_file)
    if state_path.exists():  # the location of the last run: its users and licenses, as the portal remembers them
        standin.state.restore(json.loads(state_path.read_text()))
    for spec in args.asset or ["361309726:100"]:
        adam_id, _, count = spec.partition(":")
        standin.state.add_asset(adam_id, int(count or 100))
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # make run's Ctrl-C, or its trap
        signal.signal(signum, lambda *_: stopping.set())
    standin.start()
    print(f"Upload the content token {token_path} (Apps and Books page, or POST /api/v1/vpp/token)")
    print(f"Run the portal with VPP_ENDPOINT={standin.url} VPP_CA_BUNDLE={standin.ca_bundle} "
          f"ITUNES_LOOKUP_URL={standin.root_url}/lookup")
    print(f"Apps and Books stand-in listening on {standin.url}", flush=True)
    stopping.wait()
    standin.stop()
    partial = state_path.with_suffix(".tmp")
    partial.write_text(json.dumps(standin.state.snapshot()))
    partial.replace(state_path)


if __name__ == "__main__":
    main()
