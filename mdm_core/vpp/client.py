"""A client for Apple's Apps and Books for Organizations API (VPP License Management 2.0).

Blocking, on ``httpx``: the portal calls it from the worker, a few hundred requests a day at
most. Every request carries the sToken as a bearer token and a timeout; answers are read up to a
bound and parsed with :mod:`mdm_core.bounded_json`. The service config (Apple: re-read every five
minutes) supplies the URLs and the batch limits the client splits its inputs to. A 429 (or
``errorNumber`` 9646) is retried after its ``Retry-After``, a 5xx or a lost connection with
exponential backoff, both within ``max_wait`` seconds of waiting per request; then the error is
raised. Writes are asynchronous on Apple's side: each answers an event id, and
:meth:`VppClient.wait_for_event` polls the event to completion.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .. import bounded_json

DEFAULT_ENDPOINT = "https://vpp.itunes.apple.com/mdm/v2/"
DEFAULT_TIMEOUT = 30.0
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a page of assets or assignments; Apple's pages hold hundreds of rows
CONFIG_TTL = 300.0  # Apple: "Sync them every 5 minutes rather than hard-coding them"
#: Apple's documented limits, used until the service config says otherwise.
DEFAULT_LIMITS = {"maxAssets": 25, "maxUsers": 100, "maxClientUserIds": 1000, "maxSerialNumbers": 1000,
                  "maxRevokeClientUserIds": 100, "maxRevokeSerialNumbers": 100}
#: The paths under the base URL, by the service config's ``urls`` key.
PATHS = {"clientConfig": "client/config", "getAssets": "assets", "getAssignments": "assignments",
         "getUsers": "users", "createUsers": "users/create", "updateUsers": "users/update",
         "retireUsers": "users/retire", "associateAssets": "assets/associate",
         "disassociateAssets": "assets/disassociate", "revokeAssets": "assets/revoke", "eventStatus": "status"}
#: errorNumbers that mean the sToken is no good: login required, expired, invalid, revoked.
TOKEN_ERRORS = frozenset({9601, 9621, 9622, 9625})
RATE_LIMITED = 9646
NOT_ENOUGH_LICENSES = 9709
#: The largest count taken from an answer (license counts are stored in 32-bit columns).
MAX_COUNT = 2 ** 31 - 1
#: The longest event id taken from an answer (it is stored to be polled later).
MAX_EVENT_ID = 64


class VppError(Exception):
    """The service refused or could not be reached. ``code`` is Apple's ``errorNumber`` when it sent one."""

    def __init__(self, code: int | None, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(f"{message} (errorNumber {code})" if code is not None else message)
        self.code, self.message, self.retryable, self.status = code, message, retryable, status


class VppTokenExpired(VppError):
    """The content token is expired, revoked or unknown: nothing works until the admin uploads a new one."""

    def __init__(self, code: int | None, message: str, *, status: int | None = None) -> None:
        super().__init__(code, message, retryable=False, status=status)


class VppRateLimited(VppError):
    """Still rate limited after waiting as long as the client may; retry after ``retry_after`` seconds."""

    def __init__(self, code: int | None, message: str, retry_after: float, *, status: int | None = 429) -> None:
        super().__init__(code, message, retryable=True, status=status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ServiceConfig:
    """The service config: request limits, endpoint URLs, error codes and notification types."""

    limits: dict[str, int]
    urls: dict[str, str]
    error_codes: dict[int, str]
    notification_types: tuple[str, ...]
    raw: dict[str, Any]

    def limit(self, name: str) -> int:
        value = self.limits.get(name)
        return value if isinstance(value, int) and value > 0 else DEFAULT_LIMITS[name]


@dataclass(frozen=True)
class Asset:
    """One asset the location owns (an app or book at one pricing parameter) with its license counts."""

    adam_id: str
    pricing_param: str
    product_type: str
    device_assignable: bool
    assigned_count: int
    available_count: int
    total_count: int
    retired_count: int
    revocable: bool
    supported_platforms: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Asset:
        return cls(str(item.get("adamId", "")), str(item.get("pricingParam", "")), str(item.get("productType", "")),
                   item.get("deviceAssignable") is True, _int(item.get("assignedCount")),
                   _int(item.get("availableCount")), _int(item.get("totalCount")), _int(item.get("retiredCount")),
                   item.get("revocable") is True,
                   tuple(p for p in item.get("supportedPlatforms") or () if isinstance(p, str)))


@dataclass(frozen=True)
class EventFailure:
    """One failure of an event: Apple's error and whom it concerns (``errorInfo``)."""

    code: int | None
    message: str
    client_user_ids: tuple[str, ...] = ()
    serial_numbers: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> EventFailure:
        info = item.get("errorInfo") if isinstance(item.get("errorInfo"), dict) else {}
        return cls(item.get("errorNumber") if isinstance(item.get("errorNumber"), int) else None,
                   str(item.get("errorMessage", "")), _strings(info.get("clientUserIds")),
                   _strings(info.get("serialNumbers")), info)


@dataclass(frozen=True)
class EventStatus:
    """An event's state: ``PENDING``, ``COMPLETE`` or ``FAILED`` (then ``failures`` says for whom)."""

    status: str
    failures: list[EventFailure]
    raw: dict[str, Any]
    event_type: str | None = None
    num_completed: int = 0
    num_requested: int = 0

    @property
    def done(self) -> bool:
        return self.status != "PENDING"

    @property
    def failed_client_user_ids(self) -> set[str]:
        return {cid for failure in self.failures for cid in failure.client_user_ids}

    def failed_for(self, code: int) -> set[str]:
        """The clientUserIds that failed with this errorNumber (e.g. 9709, no license left)."""
        return {cid for failure in self.failures if failure.code == code for cid in failure.client_user_ids}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> EventStatus:
        status = body.get("eventStatus")
        if status not in ("PENDING", "COMPLETE", "FAILED"):
            raise VppError(None, f"the event status {str(status)[:40]!r} is not one Apple documents")
        failures = [EventFailure.from_json(f) for f in body.get("failures") or () if isinstance(f, dict)]
        return cls(status, failures, body, body.get("eventType"), _int(body.get("numCompleted")),
                   _int(body.get("numRequested")))

    @classmethod
    def merged(cls, statuses: Sequence[EventStatus]) -> EventStatus:
        """The events of one batched call as one: FAILED when one failed, PENDING while one is."""
        if len(statuses) == 1:
            return statuses[0]
        states = {s.status for s in statuses}
        status = "PENDING" if "PENDING" in states else "FAILED" if "FAILED" in states else "COMPLETE"
        return cls(status, [f for s in statuses for f in s.failures], {"events": [s.raw for s in statuses]},
                   statuses[0].event_type if statuses else None, sum(s.num_completed for s in statuses),
                   sum(s.num_requested for s in statuses))


def _int(value: Any) -> int:
    """A count from an answer: an integer clamped to ``0..MAX_COUNT``; anything else is 0."""
    return min(max(value, 0), MAX_COUNT) if isinstance(value, int) and not isinstance(value, bool) else 0


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size``, in order (a service config limit per request)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class VppClient:
    """One location's Apps and Books API, authenticated by its sToken.

    ``calls`` counts HTTP requests sent (retries included), for benchmarks and tests.
    """

    def __init__(self, base_url: str = DEFAULT_ENDPOINT, stoken: str = "", *, ca_bundle: str | None = None,
                 client: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, max_wait: float = 60.0, max_attempts: int = 6,
                 timeout: float = DEFAULT_TIMEOUT, poll_interval: float = 1.0, max_poll_interval: float = 15.0,
                 event_timeout: float = 600.0) -> None:
        if not stoken:
            raise ValueError("an sToken is required")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.stoken = stoken
        self.sleep, self.clock = sleep, clock
        self.max_wait, self.max_attempts = max_wait, max_attempts
        self.poll_interval, self.max_poll_interval, self.event_timeout = poll_interval, max_poll_interval, event_timeout
        self.timeout = timeout
        self._owns_client = client is None
        verify = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self.http = client or httpx.Client(verify=verify, timeout=timeout)
        self.calls = 0
        self._config: ServiceConfig | None = None
        self._config_at = 0.0

    def close(self) -> None:
        if self._owns_client:
            self.http.close()

    def __enter__(self) -> VppClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- configuration ----------------------------------------------------------------------
    def service_config(self, *, refresh: bool = False) -> ServiceConfig:
        """The service config, re-read when older than five minutes."""
        if self._config is None or refresh or self.clock() - self._config_at > CONFIG_TTL:
            body = self._request("GET", self.base_url + "service/config")
            limits = {k: v for k, v in (body.get("limits") or {}).items() if isinstance(v, int)}
            urls = {k: v for k, v in (body.get("urls") or {}).items() if isinstance(v, str)}
            codes = {c["errorNumber"]: str(c.get("errorMessage", "")) for c in body.get("errorCodes") or ()
                     if isinstance(c, dict) and isinstance(c.get("errorNumber"), int)}
            self._config = ServiceConfig(limits, urls, codes, _strings(body.get("notificationTypes")), body)
            self._config_at = self.clock()
        return self._config

    def client_config(self) -> dict[str, Any]:
        """The location's client config: ``clientContext``, ``locationName``, ``uId``, ``tokenExpirationDate``..."""
        return self._request("GET", self._url("clientConfig"))

    def set_client_context(self, context: str) -> dict[str, Any]:
        """Claim the location: store ``context`` (Apple: a JSON string naming this server) in the client config."""
        return self._request("POST", self._url("clientConfig"), json={"clientContext": context})

    # -- reads (every page) -----------------------------------------------------------------
    def assets(self, **filters: str) -> Iterator[Asset]:
        """Every asset the location owns (``adamId``, ``pricingParam``, ``productType`` filter)."""
        for item in self._pages("getAssets", "assets", filters):
            yield Asset.from_json(item)

    def users(self, *, client_user_id: str | None = None, active_only: bool = False) -> Iterator[dict[str, Any]]:
        """The location's users as Apple lists them (``clientUserId``, ``managedAppleId``, ``status``...)."""
        filters = {"clientUserId": client_user_id} if client_user_id else {}
        if active_only:
            filters["activeOnly"] = "true"
        return self._pages("getUsers", "users", filters)

    def assignments(self, adam_id: str | None = None, client_user_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Active assignments (``adamId``, ``pricingParam``, ``clientUserId`` or ``serialNumber``)."""
        filters = {k: v for k, v in (("adamId", adam_id), ("clientUserId", client_user_id)) if v}
        return self._pages("getAssignments", "assignments", filters)

    # -- writes (asynchronous: each batch answers an event id) ------------------------------
    def create_users(self, users: list[dict[str, Any]]) -> list[str]:
        """Register users (``clientUserId``, ``managedAppleId``, ``email``); one event id per batch."""
        return self._users("createUsers", users)

    def update_users(self, users: list[dict[str, Any]]) -> list[str]:
        return self._users("updateUsers", users)

    def retire_users(self, client_user_ids: Iterable[str]) -> list[str]:
        return self._users("retireUsers", [{"clientUserId": cid} for cid in client_user_ids])

    def associate_assets(self, assets: Sequence[tuple[str, str]], client_user_ids: Sequence[str]) -> list[str]:
        """Assign one license of each asset (``(adamId, pricingParam)``) to each user; one event id per batch."""
        return self._manage("associateAssets", assets, client_user_ids)

    def disassociate_assets(self, assets: Sequence[tuple[str, str]], client_user_ids: Sequence[str]) -> list[str]:
        """Take the licenses back (they become available again)."""
        return self._manage("disassociateAssets", assets, client_user_ids)

    def event_status(self, event_id: str) -> EventStatus:
        return EventStatus.from_json(self._request("GET", self._url("eventStatus"), params={"eventId": event_id}))

    def wait_for_event(self, event_ids: str | Sequence[str]) -> EventStatus:
        """Poll the event(s) until none is PENDING (interval growing from ``poll_interval``); merged into one.

        Raises :class:`VppError` (retryable) when they are still pending after ``event_timeout`` seconds."""
        pending = [event_ids] if isinstance(event_ids, str) else list(event_ids)
        finished: list[EventStatus] = []
        deadline = self.clock() + self.event_timeout
        interval = self.poll_interval
        while pending:
            still = []
            for event_id in pending:
                status = self.event_status(event_id)
                (finished if status.done else still).append(status if status.done else event_id)
            pending = still
            if pending:
                if self.clock() + interval > deadline:
                    raise VppError(None, f"{len(pending)} event(s) still pending after {self.event_timeout:.0f} s",
                                   retryable=True)
                self.sleep(interval)
                interval = min(interval * 1.5, self.max_poll_interval)
        return EventStatus.merged(finished)

    # -- plumbing ---------------------------------------------------------------------------
    def _users(self, key: str, users: list[dict[str, Any]]) -> list[str]:
        size = self.service_config().limit("maxUsers")
        return [self._event(key, {"users": chunk}) for chunk in chunks(users, size)]

    def _manage(self, key: str, assets: Sequence[tuple[str, str]], client_user_ids: Sequence[str]) -> list[str]:
        config = self.service_config()
        request_assets = [{"adamId": adam_id, "pricingParam": pricing_param} for adam_id, pricing_param in assets]
        return [self._event(key, {"assets": asset_chunk, "clientUserIds": user_chunk})
                for asset_chunk in chunks(request_assets, config.limit("maxAssets"))
                for user_chunk in chunks(list(client_user_ids), config.limit("maxClientUserIds"))]

    def _event(self, key: str, body: dict[str, Any]) -> str:
        answer = self._request("POST", self._url(key), json=body)
        event_id = answer.get("eventId")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID or not event_id.isascii() \
                or not event_id.isprintable():
            raise VppError(None, "the service answered without a usable eventId")
        return event_id

    def _url(self, key: str) -> str:
        """The service config's URL for ``key`` when it stays on the configured host, else the documented path."""
        url = self.service_config().urls.get(key)
        base = urlsplit(self.base_url)
        if url and urlsplit(url)[:2] == base[:2]:
            return url
        return urljoin(self.base_url, PATHS[key])

    def _pages(self, key: str, items_key: str, filters: dict[str, str]) -> Iterator[dict[str, Any]]:
        url, page = self._url(key), 0
        seen: set[int] = set()
        while page is not None and page not in seen:
            seen.add(page)
            body = self._request("GET", url, params={**filters, "pageIndex": str(page)})
            yield from (item for item in body.get(items_key) or () if isinstance(item, dict))
            next_page = body.get("nextPageIndex")
            page = next_page if isinstance(next_page, int) and not isinstance(next_page, bool) else None

    def _request(self, method: str, url: str, *, params: dict[str, str] | None = None,
                 json: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call, retried on 429 and 5xx within ``max_wait``; the answer's JSON object."""
        waited, backoff = 0.0, 1.0
        for attempt in itertools.count(1):
            try:
                status, headers, body = self._send(method, url, params, json)
            except httpx.TransportError as exc:
                error: VppError = VppError(None, f"{method} {url} failed: {exc.__class__.__name__}", retryable=True)
                delay = backoff
            else:
                if 200 <= status < 300 and isinstance(body, dict) and "errorNumber" not in body:
                    return body
                error = self._error(status, headers, body)
                if not error.retryable:
                    raise error
                delay = error.retry_after if isinstance(error, VppRateLimited) else backoff
            backoff *= 2
            if attempt >= self.max_attempts or waited + delay > self.max_wait:
                raise error
            self.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, params: dict[str, str] | None,
              json: dict[str, Any] | None) -> tuple[int, httpx.Headers, Any]:
        self.calls += 1
        headers = {"Authorization": f"Bearer {self.stoken}", "Accept": "application/json"}
        with self.http.stream(method, url, params=params, json=json, headers=headers, timeout=self.timeout) as response:
            data = bytearray()
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if len(data) > MAX_ANSWER_BYTES:
                    raise VppError(None, f"the answer to {method} {url} exceeds {MAX_ANSWER_BYTES} bytes")
        try:
            body = bounded_json.loads(bytes(data)) if data else None
        except ValueError:
            body = None
        return response.status_code, response.headers, body

    def _error(self, status: int, headers: httpx.Headers, body: Any) -> VppError:
        code = body.get("errorNumber") if isinstance(body, dict) else None
        code = code if isinstance(code, int) else None
        message = str(body.get("errorMessage", ""))[:500] if isinstance(body, dict) else ""
        message = message or f"the service answered HTTP {status}"
        if status == 429 or code == RATE_LIMITED:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            return VppRateLimited(code, message, retry_after if retry_after is not None else 5.0, status=status)
        if code in TOKEN_ERRORS or status == 401:
            return VppTokenExpired(code, message, status=status)
        return VppError(code, message, retryable=status >= 500 or status == 408, status=status)
