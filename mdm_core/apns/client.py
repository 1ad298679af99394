"""APNs provider API client for MDM pushes: HTTP/2 over TLS with the push certificate.

Built on asyncio and h2 directly (no HTTP client framework) because a push is tiny and the
per-request overhead is what limits throughput: pushes are multiplexed as concurrent
streams over a few kept-alive connections, and writes are batched per event-loop turn.
"""
from __future__ import annotations

import asyncio
import collections
import functools
import json
import os
import secrets
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography.hazmat.primitives import serialization
from hpack import NeverIndexedHeaderTuple

from .. import bounded_json
from .certificate import PushCertificate

MAX_STREAMS_PER_CONNECTION = 100  # h2 counts open streams by scanning them: more per connection costs CPU
SPREAD_THRESHOLD = 32  # open another connection once every open one carries this many pushes
DEFAULT_TIMEOUT = 30.0
MAX_ANSWER_BYTES = 4096  # APNs answers carry {"reason": ..., "timestamp": ...}, well under this
MAX_REASON_CHARS = 200



def h2_connection(*, client_side: bool) -> h2.connection.H2Connection:
    """An h2 connection tuned for many tiny requests: no header re-validation, and no Huffman
    coding of headers (pushes carry random tokens that do not compress; coding costs CPU on both ends)."""
    connection = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=client_side, header_encoding=None, validate_outbound_headers=False,
        normalize_outbound_headers=False, validate_inbound_headers=False))
    connection.encoder.encode = functools.partial(connection.encoder.encode, huffman=False)
    return connection


class ApnsConnectError(ConnectionError):
    """No connection to the APNs endpoint could be made; the message says why."""


@dataclass(frozen=True)
class MdmPush:
    """One MDM wake-up: the device token (hex) and the PushMagic from its TokenUpdate."""

    token: str
    push_magic: str
    expiration: int = 0  # Unix time until which APNs keeps trying; 0 = deliver now or drop
    apns_id: str | None = None  # the push's UUID, the same on every attempt; APNs assigns one when None


@dataclass(frozen=True)
class PushResult:
    """APNs' answer to one push; ``status`` is None when no answer came (connection lost, timeout)."""

    push: MdmPush
    status: int | None
    reason: str | None = None
    apns_id: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status == 200


class Disposition(Enum):
    """What the sender does with a push after APNs' answer."""

    DELIVERED = "delivered"
    RETRY = "retry"  # 429, 5xx, connection loss: try again later
    TOKEN_DEAD = "token_dead"  # 410 Unregistered / 400 BadDeviceToken: stop until the next TokenUpdate
    BAD_CERTIFICATE = "bad_certificate"  # 403 certificate problems: the admin must act; keep the push
    REJECTED = "rejected"  # any other 4xx: this push will never be accepted


def answer_reason(data: bytes) -> str | None:
    """The ``reason`` of an APNs answer body (``{"reason": "BadDeviceToken"}``), or None.

    The body comes from the network: anything but a short JSON object with a string reason
    (oversized, nested, another type) has no reason, rather than an exception in the sender."""
    if not data or len(data) > MAX_ANSWER_BYTES:
        return None
    try:
        reason = bounded_json.loads(data).get("reason")
    except (ValueError, AttributeError):
        return None
    return reason[:MAX_REASON_CHARS] if isinstance(reason, str) else None


_BAD_CERTIFICATE_REASONS = frozenset({"BadCertificate", "BadCertificateEnvironment", "Forbidden"})


def disposition(result: PushResult) -> Disposition:
    """Classify an answer per Apple's provider API status codes."""
    status, reason = result.status, result.reason
    if status == 200:
        return Disposition.DELIVERED
    if reason in _BAD_CERTIFICATE_REASONS or status == 403:
        return Disposition.BAD_CERTIFICATE
    if status == 410 or (status == 400 and reason == "BadDeviceToken"):
        return Disposition.TOKEN_DEAD
    if status is None or status == 429 or status >= 500:
        return Disposition.RETRY
    return Disposition.REJECTED


def retry_delay(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th retry (1-based)."""
    ceiling = min(cap, base * (2 ** min(attempt - 1, 20)))
    return ceiling / 2 + secrets.randbelow(1000) / 1000 * ceiling / 2


def client_ssl_context(push_certificate: PushCertificate, ca_bundle: str | None = None) -> ssl.SSLContext:
    """TLS context that presents the push certificate and trusts ``ca_bundle`` (system trust when None).

    ``ssl`` loads client keys only from files: the key goes to a private temporary file
    encrypted with a one-time password, so it never touches the disk in clear.
    """
    context = ssl.create_default_context(cafile=ca_bundle)
    context.set_alpn_protocols(["h2"])
    password = secrets.token_urlsafe(32).encode()
    pem = push_certificate.certificate.public_bytes(serialization.Encoding.PEM) + push_certificate.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(password))
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        context.load_cert_chain(path, password=password)
    finally:
        os.unlink(path)
    return context


class _Pending:
    __slots__ = ("push", "callback", "started", "status", "apns_id", "data")

    def __init__(self, push: MdmPush, callback: Callable[[PushResult], None], started: float) -> None:
        self.push, self.callback, self.started = push, callback, started
        self.status: int | None = None
        self.apns_id: str | None = None
        self.data = b""


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection carrying many concurrent pushes."""

    def __init__(self, client: ApnsClient) -> None:
        self.client = client
        self.h2 = h2_connection(client_side=True)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Pending] = {}
        self.blocked: collections.deque[tuple[int, bytes]] = collections.deque()
        self.ready = asyncio.get_running_loop().create_future()
        self.closed = False
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None

    # -- capacity -----------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        if self.closed or not self.ready.done():
            return 0
        limit = min(self.h2.remote_settings.max_concurrent_streams, MAX_STREAMS_PER_CONNECTION)
        return limit - len(self.streams)

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.h2.initiate_connection()
        self._flush()
        self._arm_watchdog()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._close(f"HTTP/2 protocol error: {exc}")
            return
        for event in events:
            handler = _EVENT_HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._close("connection lost")

    # -- sending ------------------------------------------------------------------------------
    def submit(self, push: MdmPush, callback: Callable[[PushResult], None]) -> None:
        client = self.client
        stream_id = self.h2.get_next_available_stream_id()
        body = b'{"mdm":"%s"}' % json.dumps(push.push_magic)[1:-1].encode()
        headers = [
            (b":method", b"POST"), (b":scheme", b"https"), (b":authority", client.authority),
            # per-push values are never indexed: they would churn HPACK's table, which h2 searches linearly
            NeverIndexedHeaderTuple(b":path", b"/3/device/" + push.token.encode()), (b"apns-topic", client.topic),
            (b"apns-push-type", b"mdm"), (b"apns-priority", b"10"),
            NeverIndexedHeaderTuple(b"apns-expiration", str(push.expiration).encode()),
        ]
        if push.apns_id:
            headers.append(NeverIndexedHeaderTuple(b"apns-id", push.apns_id.encode()))
        self.h2.send_headers(stream_id, headers)
        self.streams[stream_id] = _Pending(push, callback, time.monotonic())
        if self.blocked or self.h2.local_flow_control_window(stream_id) < len(body):
            self.blocked.append((stream_id, body))
        else:
            self.h2.send_data(stream_id, body, end_stream=True)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _send_blocked(self) -> None:
        while self.blocked:
            stream_id, body = self.blocked[0]
            if stream_id not in self.streams:
                self.blocked.popleft()
                continue
            if self.h2.local_flow_control_window(stream_id) < len(body):
                return
            self.blocked.popleft()
            self.h2.send_data(stream_id, body, end_stream=True)

    # -- answers ------------------------------------------------------------------------------
    def _finish(self, stream_id: int) -> None:
        pending = self.streams.get(stream_id)
        if pending is None:
            return
        self._settle(stream_id, PushResult(pending.push, pending.status, answer_reason(pending.data), pending.apns_id))

    def _fail(self, stream_id: int, reason: str) -> None:
        pending = self.streams.get(stream_id)
        if pending is not None:
            self._settle(stream_id, PushResult(pending.push, None, reason))

    def _settle(self, stream_id: int, result: PushResult) -> None:
        pending = self.streams.pop(stream_id)
        pending.callback(result)
        if self.closed and not self.streams and self.transport is not None:
            self.transport.close()
        self.client._capacity_freed()

    def _on_response(self, event: h2.events.ResponseReceived) -> None:
        pending = self.streams.get(event.stream_id)
        if pending is None:
            return
        for name, value in event.headers:
            if name == b":status":
                pending.status = int(value)
            elif name == b"apns-id":
                pending.apns_id = value.decode()
        if event.stream_ended is not None:
            self._finish(event.stream_id)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        pending = self.streams.get(event.stream_id)
        if pending is not None and len(pending.data) <= MAX_ANSWER_BYTES:  # a longer answer is no APNs answer
            pending.data += event.data
        if event.stream_ended is not None:
            self._finish(event.stream_id)

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        self._finish(event.stream_id)

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        self._fail(event.stream_id, "stream reset")

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        if not self.ready.done():
            self.ready.set_result(None)
        self.client._capacity_freed(self.capacity)

    def _on_window(self, event: h2.events.WindowUpdated) -> None:
        self._send_blocked()

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        reason = answer_reason(event.additional_data or b"") or "connection closed by APNs"
        self.closed = True
        last = event.last_stream_id or 0
        for stream_id in [s for s in self.streams if s > last]:
            self._fail(stream_id, reason)
        if not self.streams and self.transport is not None:
            self.transport.close()
        self.client._connection_closed(self, reason)

    def _close(self, reason: str) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        first = not self.closed
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ApnsConnectError(reason))
        for stream_id in list(self.streams):
            self._fail(stream_id, reason)
        if self.transport is not None:
            self.transport.close()
        if first:
            self.client._connection_closed(self, reason)

    def _arm_watchdog(self) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(1.0, self._check_timeouts)

    def _check_timeouts(self) -> None:
        deadline = time.monotonic() - self.client.timeout
        for stream_id in [s for s, p in self.streams.items() if p.started < deadline]:
            try:
                self.h2.reset_stream(stream_id)
            except h2.exceptions.ProtocolError:  # the stream, or after a GOAWAY the connection, is closed
                pass
            self._fail(stream_id, "timeout")
        self._flush()
        if not self.closed or self.streams:  # after a graceful GOAWAY the streams it let finish may never answer
            self._arm_watchdog()


_EVENT_HANDLERS = {
    h2.events.ResponseReceived: _Connection._on_response,
    h2.events.DataReceived: _Connection._on_data,
    h2.events.StreamEnded: _Connection._on_stream_ended,
    h2.events.StreamReset: _Connection._on_reset,
    h2.events.RemoteSettingsChanged: _Connection._on_settings,
    h2.events.WindowUpdated: _Connection._on_window,
    h2.events.ConnectionTerminated: _Connection._on_goaway,
}


class ApnsClient:
    """Sends MDM pushes for one topic over up to ``max_connections`` HTTP/2 connections.

    Use from a single event loop. Connections open on demand, stay open between sends and
    are replaced when APNs closes them.
    """

    def __init__(self, endpoint: str, ssl_context: ssl.SSLContext, topic: str, *, max_connections: int = 4,
                 timeout: float = DEFAULT_TIMEOUT, connect_timeout: float = 10.0) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"APNs endpoint must be an https URL, not {endpoint!r}")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.authority = (self.host if self.port == 443 else f"{self.host}:{self.port}").encode()
        self.topic = topic.encode()
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._connections: list[_Connection] = []
        self._opening = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._connections if not c.closed)

    async def send(self, push: MdmPush) -> PushResult:
        """Send one push and return APNs' answer (never raises for transport failures)."""
        try:
            connection = await self._acquire()
        except ApnsConnectError as exc:
            return PushResult(push, None, str(exc))
        future = asyncio.get_running_loop().create_future()
        connection.submit(push, lambda result: future.done() or future.set_result(result))
        return await future

    async def send_many(self, pushes: list[MdmPush]) -> list[PushResult]:
        """Send pushes concurrently; results come back in the same order.

        One pump feeds streams as capacity frees up (no task per push: at thousands of
        pushes a second the per-task overhead is a noticeable share of the CPU).
        """
        results: list[PushResult | None] = [None] * len(pushes)
        if not pushes:
            return []
        finished = asyncio.get_running_loop().create_future()
        remaining = len(pushes)

        def record(index: int, result: PushResult) -> None:
            nonlocal remaining
            results[index] = result
            remaining -= 1
            if not remaining and not finished.done():
                finished.set_result(None)

        for index, push in enumerate(pushes):
            try:
                connection = await self._acquire()
            except ApnsConnectError as exc:  # no connection at all (or no stream): the rest would fail the same way
                for rest in range(index, len(pushes)):
                    record(rest, PushResult(pushes[rest], None, str(exc)))
                break
            connection.submit(push, functools.partial(record, index))
        await finished
        return results  # type: ignore[return-value]

    async def close(self) -> None:
        for connection in self._connections:
            if connection.transport is not None:
                connection.h2.close_connection()
                connection._flush()
                connection.transport.close()
        self._connections.clear()
        await asyncio.sleep(0)

    async def _acquire(self) -> _Connection:
        """A connection with room for one more stream (at once when one has: the push is submitted before anything
        else runs), waiting for one at most the push timeout: a server may allow no stream at all
        (SETTINGS_MAX_CONCURRENT_STREAMS 0), and nothing else would end the wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            best = None
            for connection in self._connections:
                if connection.capacity > 0 and (best is None or len(connection.streams) < len(best.streams)):
                    best = connection
            if (best is None or len(best.streams) >= SPREAD_THRESHOLD) and (
                    len(self._connections) + self._opening < self.max_connections) and (best is not None or not self._opening):
                self._opening += 1
                loop.create_task(self._open())
            if best is not None:
                return best
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(deadline - loop.time(), 0))
            except asyncio.TimeoutError:
                raise ApnsConnectError("timeout") from None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            try:
                _transport, connection = await asyncio.wait_for(loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self.ssl_context,
                    server_hostname=self.host), self.connect_timeout)
                ssl_object = _transport.get_extra_info("ssl_object")
                if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
                    _transport.close()
                    raise ApnsConnectError(f"{self.host}:{self.port} does not speak HTTP/2")
                await asyncio.wait_for(asyncio.shield(connection.ready), self.connect_timeout)
            except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
                raise ApnsConnectError(f"cannot connect to APNs at {self.host}:{self.port}: "
                                       f"{exc.__class__.__name__} {exc}".strip()) from None
        except ApnsConnectError as exc:
            self._opening -= 1
            if not self._connections:
                self._fail_waiters(exc)
            return
        self._opening -= 1
        self._connections.append(connection)
        self._capacity_freed(connection.capacity)

    def _capacity_freed(self, count: int = 1) -> None:
        while count > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def _connection_closed(self, connection: _Connection, reason: str) -> None:
        if connection in self._connections:
            self._connections.remove(connection)
        self._capacity_freed(len(self._waiters))

    def _fail_waiters(self, exc: Exception) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)


class BlockingApnsClient:
    """An ApnsClient on a private event loop, for synchronous callers such as the push worker.

    Connections stay open between calls to :meth:`send_many`.
    """

    def __init__(self, endpoint: str, ssl_context: ssl.SSLContext, topic: str, **options) -> None:
        self._loop = asyncio.new_event_loop()
        self.client = ApnsClient(endpoint, ssl_context, topic, **options)

    def send_many(self, pushes: list[MdmPush]) -> list[PushResult]:
        return self._loop.run_until_complete(self.client.send_many(pushes))

    def close(self) -> None:
        self._loop.run_until_complete(self.client.close())
        self._loop.close()
