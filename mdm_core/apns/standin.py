"""A local APNs stand-in: the provider API over HTTP/2 and TLS, for tests and demos.

Apple's servers cannot be reached from a test machine, so this speaks the same protocol
over the same transport: TLS that requires a client certificate issued by the configured
push CA, HTTP/2 only, ``POST /3/device/<token>`` with the headers and body APNs checks,
and APNs' status codes and JSON reasons. 200 answers carry headers only and echo
``apns-id``, as APNs does. Switches inject 410/429/500 answers, dropped connections and answers
held back (a sender that dies meanwhile never learns that its pushes were accepted). A push log
(``--push-log FILE``) records each answered push as it is answered, so another process (the fan-out
benchmark's simulated phones) can wake exactly when its push arrives.

Run ``python -m mdm_core.apns.standin --demo DIR`` for a demo (see ``--help``).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from cryptography import x509
from cryptography.x509.oid import NameOID
from hpack import NeverIndexedHeaderTuple

from .client import h2_connection

log = logging.getLogger("mdm_core.apns.standin")

MAX_PAYLOAD = 4096
_TOKEN = re.compile(rb"^[0-9a-fA-F]{16,200}$")
_PATH_PREFIX = b"/3/device/"
_REASON_STATUS = {"Unregistered": 410, "BadDeviceToken": 400, "TooManyRequests": 429,
                  "InternalServerError": 500, "ServiceUnavailable": 503, "BadCertificate": 403}


@dataclass(frozen=True)
class ReceivedPush:
    """A push the stand-in accepted (answered 200)."""

    token: str
    topic: str
    push_magic: str
    apns_id: str
    headers: dict[str, str]


@dataclass
class _Switches:
    unregistered: set[str] = field(default_factory=set)
    answers: collections.deque = field(default_factory=collections.deque)  # (status, reason) for the next requests
    drops: int = 0


def _topic_of(der: bytes | None) -> str | None:
    if not der:
        return None
    uids = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.USER_ID)
    return str(uids[0].value) if uids else None


class Standin:
    """The stand-in server. Start it in a thread (tests) or with :meth:`bind` and :meth:`serve_forever`.

    The switch methods are thread-safe and apply to the next valid requests.
    """

    def __init__(self, server_cert: Path, server_key: Path, client_ca: Path, *, host: str = "127.0.0.1",
                 port: int = 0, keep_received: bool = True, push_log: TextIO | None = None) -> None:
        self.host, self.port = host, port
        self.keep_received = keep_received
        self.push_log = push_log
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.load_cert_chain(str(server_cert), str(server_key))
        self.ssl_context.load_verify_locations(cafile=str(client_ca))
        self.ssl_context.verify_mode = ssl.CERT_REQUIRED
        self.ssl_context.set_alpn_protocols(["h2"])
        self.received: list[ReceivedPush] = []
        self.accepted = 0
        self.requests = 0
        self.connections = 0
        self._switches = _Switches()
        self._lock = threading.Lock()
        self._holding = False
        self.max_streams = 1000  # SETTINGS_MAX_CONCURRENT_STREAMS of the connections opened from now on
        self._held: list[tuple[_ServerConnection, int, tuple[dict[bytes, bytes], bytearray]]] = []
        self._live: set[_ServerConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"https://{self.host}:{self.port}"

    # -- switches -----------------------------------------------------------------------------
    def unregister(self, token: str) -> None:
        """Answer 410 Unregistered for this device token from now on."""
        with self._lock:
            self._switches.unregistered.add(token.lower())

    def answer_next(self, reason: str, times: int = 1) -> None:
        """Answer the next ``times`` valid pushes with APNs' status for ``reason`` (e.g. TooManyRequests)."""
        with self._lock:
            self._switches.answers.extend([(_REASON_STATUS[reason], reason)] * times)

    def drop_next(self, times: int = 1) -> None:
        """Close the connection without answering on the next ``times`` requests."""
        with self._lock:
            self._switches.drops += times

    def hold(self) -> None:
        """Receive requests but hold their answers back until :meth:`release`."""
        self._holding = True

    @property
    def held(self) -> int:
        """How many requests wait for their answer."""
        return len(self._held)

    def release(self) -> None:
        """Stop holding; answer the held requests by the rules (those accepted are recorded as received),
        on their connections if these are still open. Returns once they are answered."""

        def answer_held() -> None:
            self._holding = False
            held, self._held = self._held, []
            for connection, stream_id, request in held:
                connection.answer_request(stream_id, request)
                connection.flush()

        self._on_loop(answer_held, "answer the held requests")

    def goaway(self) -> None:
        """Shut every open connection down gracefully (RFC 9113 6.8): a GOAWAY naming the highest stream id, so
        the requests under way may still be answered; held ones stay held. Returns once it is sent."""

        def send() -> None:
            for connection in list(self._live):
                connection.h2.close_connection(last_stream_id=2 ** 31 - 1)
                connection.flush()

        self._on_loop(send, "send its GOAWAY")

    def _on_loop(self, work: Callable[[], None], what: str) -> None:
        """Run ``work`` on the stand-in's event loop (its connections live there) and wait until it ran."""
        done = threading.Event()

        def run() -> None:
            try:
                work()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        if not done.wait(10):
            raise RuntimeError(f"the APNs stand-in did not {what}")

    def pushes_for(self, token: str) -> list[ReceivedPush]:
        return [p for p in self.received if p.token == token.lower()]

    def log_answer(self, path: bytes, status: int) -> None:
        """Append ``<unix time> <status> <device token>`` to the push log (``-`` for a malformed token)."""
        token = path[len(_PATH_PREFIX):] if path.startswith(_PATH_PREFIX) else b""
        text = token.decode().lower() if _TOKEN.fullmatch(token) else "-"
        self.push_log.write(f"{time.time():.6f} {status} {text}\n")

    # -- running ------------------------------------------------------------------------------
    async def bind(self) -> None:
        """Listen on host:port (port 0 picks a free one, readable from ``port`` afterwards)."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(lambda: _ServerConnection(self), self.host, self.port,
                                                      ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def serve_forever(self) -> None:
        try:
            await self._server.serve_forever()
        except asyncio.CancelledError:
            pass

    def start(self) -> Standin:
        """Serve from a background thread; returns once the port is bound."""
        started = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            loop.run_until_complete(self.bind())
            started.set()
            loop.run_until_complete(self.serve_forever())
            loop.close()

        self._thread = threading.Thread(target=run, name="apns-standin", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the APNs stand-in did not start")
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (as a crash of APNs would)."""
        if self._loop is not None and self._server is not None:
            def shutdown() -> None:
                self._server.close()
                for connection in list(self._live):
                    connection.abort()
            self._loop.call_soon_threadsafe(shutdown)
        if self._thread is not None:
            self._thread.join(10)

    # -- the rules ----------------------------------------------------------------------------
    def _take_drop(self) -> bool:
        if not self._switches.drops:
            return False
        with self._lock:
            if self._switches.drops:
                self._switches.drops -= 1
                return True
        return False

    def answer(self, topic: str | None, headers: dict[bytes, bytes], body: bytes) -> tuple[int, str | None, str]:
        """Check one request like APNs; returns (status, reason or None, apns-id)."""
        self.requests += 1
        apns_id = headers.get(b"apns-id", b"").decode("latin-1")
        if apns_id:
            try:
                apns_id = str(uuid.UUID(apns_id)).upper()
            except ValueError:
                return 400, "BadMessageId", str(uuid.uuid4()).upper()
        else:
            apns_id = str(uuid.uuid4()).upper()
        path = headers.get(b":path", b"")
        if headers.get(b":method") != b"POST":
            return 405, "MethodNotAllowed", apns_id
        if not path.startswith(_PATH_PREFIX):
            return 404, "BadPath", apns_id
        token = path[len(_PATH_PREFIX):]
        if not token:
            return 400, "MissingDeviceToken", apns_id
        if not _TOKEN.match(token) or len(token) % 2:
            return 400, "BadDeviceToken", apns_id
        request_topic = headers.get(b"apns-topic", b"").decode("latin-1")
        if not request_topic:
            return 400, "MissingTopic", apns_id
        if request_topic != topic:
            return 400, "TopicDisallowed", apns_id
        if headers.get(b"apns-push-type") != b"mdm":
            return 400, "InvalidPushType", apns_id
        if headers.get(b"apns-priority", b"10") not in (b"5", b"10"):
            return 400, "BadPriority", apns_id
        if not headers.get(b"apns-expiration", b"0").isdigit():
            return 400, "BadExpirationDate", apns_id
        if not body:
            return 400, "PayloadEmpty", apns_id
        if len(body) > MAX_PAYLOAD:
            return 413, "PayloadTooLarge", apns_id
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("mdm"), str) or not payload["mdm"]:
            # APNs has no reason for this: an MDM push without PushMagic never wakes the device
            return 400, "StandinMissingPushMagic", apns_id
        token_text = token.decode().lower()
        switches = self._switches
        if switches.unregistered or switches.answers:
            with self._lock:
                if token_text in switches.unregistered:
                    return 410, "Unregistered", apns_id
                if switches.answers:
                    status, reason = switches.answers.popleft()
                    return status, reason, apns_id
        self.accepted += 1
        if self.keep_received:
            self.received.append(ReceivedPush(token_text, request_topic, payload["mdm"], apns_id,
                                              {k.decode(): v.decode("latin-1") for k, v in headers.items()}))
        log.info("push accepted: token=%s… topic=%s", token_text[:12], request_topic)
        return 200, None, apns_id


class _ServerConnection(asyncio.Protocol):
    def __init__(self, standin: Standin) -> None:
        self.standin = standin
        self.h2 = h2_connection(client_side=False)
        self.transport: asyncio.Transport | None = None
        self.topic: str | None = None
        self.requests: dict[int, tuple[dict[bytes, bytes], bytearray]] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object.selected_alpn_protocol() != "h2":
            transport.close()
            return
        self.topic = _topic_of(ssl_object.getpeercert(binary_form=True))
        self.standin.connections += 1
        self.standin._live.add(self)
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.standin.max_streams,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
        })
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(1 << 24)
        transport.write(self.h2.data_to_send())

    def flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.standin._live.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.h2.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                if self.standin._take_drop():
                    self.transport.abort()
                    return
                self.requests[event.stream_id] = (dict(event.headers), bytearray())
                if event.stream_ended is not None:
                    self._respond(event.stream_id)
            elif isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                request = self.requests.get(event.stream_id)
                if request is not None:
                    request[1].extend(event.data)
                if event.stream_ended is not None:
                    self._respond(event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._respond(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.requests.pop(event.stream_id, None)
        self.transport.write(self.h2.data_to_send())

    def _respond(self, stream_id: int) -> None:
        request = self.requests.pop(stream_id, None)
        if request is None:
            return
        if self.standin._holding:
            self.standin._held.append((self, stream_id, request))
            return
        self.answer_request(stream_id, request)

    def answer_request(self, stream_id: int, request: tuple[dict[bytes, bytes], bytearray]) -> None:
        """Answer one complete request; the caller flushes."""
        status, reason, apns_id = self.standin.answer(self.topic, request[0], bytes(request[1]))
        if self.standin.push_log is not None:
            self.standin.log_answer(request[0].get(b":path", b""), status)
        headers = [(b":status", str(status).encode()), NeverIndexedHeaderTuple(b"apns-id", apns_id.encode())]
        if reason is None:
            self.h2.send_headers(stream_id, headers, end_stream=True)
            return
        body = {"reason": reason}
        if status == 410:
            body["timestamp"] = int(time.time() * 1000)
        data = json.dumps(body).encode()
        self.h2.send_headers(stream_id, headers + [(b"content-type", b"application/json"),
                                                   (b"content-length", str(len(data)).encode())])
        self.h2.send_data(stream_id, data, end_stream=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mdm_core.apns.standin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, metavar="DIR",
                        help="create (once) stand-in certificates and an MDM push certificate in DIR and use them")
    parser.add_argument("--cert", type=Path, help="the stand-in's TLS certificate (PEM)")
    parser.add_argument("--key", type=Path, help="its private key (PEM)")
    parser.add_argument("--client-ca", type=Path, help="CA that must have issued the client's push certificate")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2197)
    parser.add_argument("--unregistered", action="append", default=[], metavar="TOKEN",
                        help="answer 410 Unregistered for this device token (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="do not log each push (benchmarks)")
    parser.add_argument("--push-log", type=Path, metavar="FILE",
                        help="append '<unix time> <status> <device token>' for each answered push, line-buffered")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(message)s")
    if args.demo:
        from .standin_pki import create_standin_pki

        files = {role: args.demo / name for role, name in (
            ("server_cert", "server-cert.pem"), ("server_key", "server-key.pem"), ("push_ca", "push-ca.pem"),
            ("server_ca", "server-ca.pem"), ("push_cert", "push-cert.pem"), ("push_key", "push-key.pem"))}
        if not all(p.exists() for p in files.values()):
            files = create_standin_pki().write(args.demo)
        args.cert, args.key, args.client_ca = files["server_cert"], files["server_key"], files["push_ca"]
    if not (args.cert and args.key and args.client_ca):
        parser.error("give --demo DIR, or --cert, --key and --client-ca")
    push_log = args.push_log.open("a", buffering=1) if args.push_log else None
    standin = Standin(args.cert, args.key, args.client_ca, host=args.host, port=args.port, keep_received=False,
                      push_log=push_log)
    for token in args.unregistered:
        standin.unregister(token)

    async def run() -> None:
        await standin.bind()
        if args.demo:
            print(f"Import the push certificate: flask --app wsgi apns import-cert {files['push_cert']} "
                  f"--key {files['push_key']}")
            print(f"Run the portal with APNS_ENDPOINT={standin.endpoint} APNS_CA_BUNDLE={files['server_ca']}")
        print(f"APNs stand-in listening on {standin.endpoint}", flush=True)
        await standin.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
