"""The state and the rules of the Apps and Books stand-in, apart from HTTP.

One location: its assets with license counts, its users, the assignments of licenses to users,
the client config, and the asynchronous events that change them. An event's change is applied
when the event completes (``delay`` seconds after the request), in the order the events were
made, so what a client observes matches Apple's service: a write answers an event id at once,
and reads show its effect only once the event status says COMPLETE.
"""
from __future__ import annotations

import collections
import itertools
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LIMITS = {"maxAssets": 25, "maxUsers": 100, "maxNotificationLength": 512, "maxRevokeClientUserIds": 100,
          "maxClientUserIds": 1000, "maxSerialNumbers": 1000, "maxRevokeSerialNumbers": 100,
          "maxMdmNameLength": 100, "maxMdmMetadataLength": 255, "maxMdmIdLength": 100}
ERROR_MESSAGES = {
    9601: "Login required.", 9602: "Invalid argument.", 9603: "Internal error.",
    9609: "Unable to find the registered user.",
    9621: "The token has expired. You need to generate a new token online using your organization's account "
          "at either school.apple.com or business.apple.com.",
    9625: "The server has revoked the sToken.",
    9646: "There are too many recent requests. Try again momentarily.",
    9650: "The provided page index must be greater than 0, and less than the total number of pages.",
    9700: "Max assets limit on request has been passed, please stay within given limit.",
    9701: "Max clientUserIds limit on request has been passed, please stay within given limit.",
    9703: "Duplicate assets found in request, please send unique assets.",
    9704: "Duplicate clientUserIds found in request, please send unique clients.",
    9708: "EventId could not be found.",
    9709: "There are not enough licenses for this app or book available to assign to the selected group.",
    9714: "The number of users exceeds the maximum. Change the request to stay within the specified limit.",
    9715: "This request contains duplicate users. Change the request to send unique users.",
    9716: "A registered user already exists with the specified clientUserId.",
    9718: "This request doesn't contain an asset, which is a required argument. Change the request to provide an "
          "asset.",
    9719: "Either clientUserIds or serialNumbers are required arguments. Change the request to provide assignable "
          "users and devices.",
    9720: "Users are a required argument. Change the request to provide a user.",
    9722: "This request contains an invalid authorization header. Change the request to send an authorization "
          "header that matches the format 'Bearer {sToken}'.",
    9726: "This request contains an unsupported HTTP method for the requested endpoint.",
    9727: "This request contains an unsupported Content-Type for the requested endpoint.",
}


def store_bundle_id(adam_id: int | str) -> str:
    """The bundle identifier the stand-in's App Store gives the app with this adam ID (the simulated
    phones install the same one)."""
    return f"com.example.store.{adam_id}"


class StandinError(Exception):
    """A request the service refuses: HTTP status and Apple's errorNumber."""

    def __init__(self, status: int, code: int) -> None:
        super().__init__(ERROR_MESSAGES.get(code, "Invalid argument."))
        self.status, self.code = status, code

    def body(self) -> dict[str, Any]:
        return {"errorNumber": self.code, "errorMessage": str(self)}


@dataclass
class StandinAsset:
    adam_id: str
    pricing_param: str = "STDQ"
    total_count: int = 100
    product_type: str = "App"
    device_assignable: bool = True
    revocable: bool = True


@dataclass
class _Event:
    event_id: str
    event_type: str
    ready_at: float
    apply: Callable[[], tuple[int, list[dict[str, Any]]]]
    num_requested: int
    done: bool = False
    num_completed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        status = "PENDING" if not self.done else "FAILED" if self.failures else "COMPLETE"
        body = {"eventStatus": status, "eventType": self.event_type, "numCompleted": self.num_completed,
                "numRequested": self.num_requested}
        if self.failures:
            body["failures"] = self.failures
        return body


class StandinState:
    """The location. Thread-safe: every method takes the lock and first completes the events that are due."""

    def __init__(self, *, organization: str = "Example Organization", location_name: str = "Example Location",
                 delay: float = 0.0, page_size: int = 1000, clock: Callable[[], float] = time.monotonic) -> None:
        self.organization, self.location_name = organization, location_name
        self.uid = str(secrets.randbelow(10**15) + 10**15)
        self.delay, self.page_size, self.clock = delay, page_size, clock
        self.limits = dict(LIMITS)
        self.assets: dict[tuple[str, str], StandinAsset] = {}
        self.users: dict[str, dict[str, Any]] = {}  # active users by clientUserId
        self.retired_users: list[dict[str, Any]] = []
        self.assignments: set[tuple[str, str, str]] = set()  # (adamId, pricingParam, clientUserId)
        self._assigned: collections.Counter[tuple[str, str]] = collections.Counter()  # licenses in use per asset
        self._apple_ids: dict[str, str] = {}  # lower-cased managedAppleId -> clientUserId of the active user
        self.client_config: dict[str, Any] = {}
        self.refused_apple_ids: dict[str, int] = {}  # lower-cased managedAppleId -> errorNumber of its refusal
        self.events: dict[str, _Event] = {}
        self._queue: collections.deque[_Event] = collections.deque()
        self.version = itertools.count(1)
        self.lock = threading.RLock()

    # -- set-up and inspection (tests, the simulator) ---------------------------------------
    def add_asset(self, adam_id: str, total_count: int = 100, pricing_param: str = "STDQ", **kwargs: Any) -> None:
        with self.lock:
            self.assets[(adam_id, pricing_param)] = StandinAsset(adam_id, pricing_param, total_count, **kwargs)

    def refuse_registration(self, managed_apple_id: str, code: int = 9602) -> None:
        """Fail the registration of this Managed Apple ID with ``code`` (9602, invalid argument) from now on."""
        with self.lock:
            self.refused_apple_ids[managed_apple_id.lower()] = code

    def allow_registration(self, managed_apple_id: str) -> None:
        with self.lock:
            self.refused_apple_ids.pop(managed_apple_id.lower(), None)

    def assigned_count(self, adam_id: str, pricing_param: str = "STDQ") -> int:
        with self.lock:
            self.complete_due()
            return self._assigned[(adam_id, pricing_param)]

    def lookup(self, ids: str) -> dict[str, Any]:
        """The iTunes lookup answer (``?id=1,2``) for the location's apps: what the App Store says of them."""
        wanted = [i for i in ids.split(",") if i][:200]
        with self.lock:
            known = {adam_id for adam_id, _ in self.assets}
        results = [{"wrapperType": "software", "kind": "software", "trackId": int(i) if i.isdigit() else i,
                    "bundleId": store_bundle_id(i), "trackName": f"Stand-in App {i}", "version": "1.0",
                    "artworkUrl100": f"https://is1-ssl.mzstatic.com/image/standin/{i}/100x100bb.jpg"}
                   for i in wanted if i in known]
        return {"resultCount": len(results), "results": results}

    def holds_license(self, managed_apple_id: str, adam_id: str) -> bool:
        """Does the active user with this Managed Apple ID hold a license for the app (any pricing)?
        What a phone learns from the App Store when the MDM asks it to install a store app."""
        with self.lock:
            self.complete_due()
            cid = self._apple_ids.get(managed_apple_id.lower())
            return cid is not None and any((adam_id, pricing, cid) in self.assignments
                                           for a, pricing in self.assets if a == adam_id)

    # -- events -----------------------------------------------------------------------------
    def complete_due(self, *, everything: bool = False) -> None:
        """Apply the events whose time has come (all of them with ``everything``), oldest first."""
        with self.lock:
            now = self.clock()
            while self._queue and (everything or self._queue[0].ready_at <= now):
                event = self._queue.popleft()
                event.num_completed, event.failures = event.apply()
                event.done = True

    def _event(self, event_type: str, num_requested: int,
               apply: Callable[[], tuple[int, list[dict[str, Any]]]]) -> dict[str, Any]:
        event = _Event(str(uuid.uuid4()), event_type, self.clock() + self.delay, apply, num_requested)
        self.events[event.event_id] = event
        self._queue.append(event)
        return {"eventId": event.event_id}

    def event_status(self, event_id: str) -> dict[str, Any]:
        event = self.events.get(event_id)
        if event is None:
            raise StandinError(400, 9708)
        return event.answer()

    # -- reads ------------------------------------------------------------------------------
    def page(self, items: list[dict[str, Any]], items_key: str, page_index: str | None) -> dict[str, Any]:
        """Apple's paging: ``pageIndex`` in, ``currentPageIndex``/``nextPageIndex``/``totalPages`` out."""
        try:
            index = int(page_index or 0)
        except ValueError:
            raise StandinError(400, 9602) from None
        total_pages = max(1, -(-len(items) // self.page_size))
        if not 0 <= index < total_pages:
            raise StandinError(400, 9650)
        chunk = items[index * self.page_size:(index + 1) * self.page_size]
        body = {items_key: chunk, "currentPageIndex": index, "size": len(chunk), "totalPages": total_pages,
                "versionId": f"{next(self.version):08d}-standin"}
        if index + 1 < total_pages:
            body["nextPageIndex"] = index + 1
        return body

    def asset_rows(self, query: dict[str, str]) -> list[dict[str, Any]]:
        rows = []
        for (adam_id, pricing), asset in sorted(self.assets.items()):
            if query.get("adamId") not in (None, adam_id) or query.get("pricingParam") not in (None, pricing):
                continue
            assigned = self._assigned[(adam_id, pricing)]
            rows.append({"adamId": adam_id, "pricingParam": pricing, "productType": asset.product_type,
                         "deviceAssignable": asset.device_assignable, "revocable": asset.revocable,
                         "assignedCount": assigned, "availableCount": asset.total_count - assigned,
                         "totalCount": asset.total_count, "retiredCount": 0, "supportedPlatforms": ["iOS", "iPadOS"]})
        return rows

    def user_rows(self, query: dict[str, str]) -> list[dict[str, Any]]:
        rows = list(self.users.values())
        if query.get("activeOnly") != "true":
            rows += self.retired_users
        wanted = query.get("clientUserId")
        return [dict(u) for u in rows if wanted in (None, u["clientUserId"])]

    def assignment_rows(self, query: dict[str, str]) -> list[dict[str, Any]]:
        return [{"adamId": a, "pricingParam": p, "clientUserId": c} for a, p, c in sorted(self.assignments)
                if query.get("adamId") in (None, a) and query.get("clientUserId") in (None, c)]

    # -- writes -----------------------------------------------------------------------------
    def manage_users(self, action: str, body: Any) -> dict[str, Any]:
        users = body.get("users") if isinstance(body, dict) else None
        if not isinstance(users, list) or not users:
            raise StandinError(400, 9720)
        if len(users) > self.limits["maxUsers"]:
            raise StandinError(400, 9714)
        if not all(isinstance(u, dict) and isinstance(u.get("clientUserId"), str) and u["clientUserId"]
                   for u in users):
            raise StandinError(400, 9602)
        if len({u["clientUserId"] for u in users}) != len(users):
            raise StandinError(400, 9715)
        users = [{k: v for k, v in u.items() if k in ("clientUserId", "email", "managedAppleId")} for u in users]
        return self._event(action.upper(), len(users), lambda: self._apply_users(action, users))

    def _apply_users(self, action: str, users: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        failed: dict[int, list[str]] = collections.defaultdict(list)
        for user in users:
            cid = user["clientUserId"]
            if action == "create":
                if cid in self.users:
                    failed[9716].append(cid)
                    continue
                refusal = self.refused_apple_ids.get(str(user.get("managedAppleId", "")).lower())
                if refusal is not None:
                    failed[refusal].append(cid)
                    continue
                record = {"clientUserId": cid, "userId": str(uuid.uuid4()), "status": "Registered",
                          "inviteCode": secrets.token_hex(16), **user}
                if user.get("managedAppleId"):  # a Managed Apple ID needs no invitation
                    record.update(status="Associated", idHash=secrets.token_urlsafe(16))
                    record.pop("inviteCode")
                self.users[cid] = record
            elif cid not in self.users:
                failed[9609].append(cid)
            elif action == "update":
                self._forget_apple_id(cid)
                self.users[cid].update(user)
            else:  # retire: the user's licenses come back
                self._forget_apple_id(cid)
                record = self.users.pop(cid)
                record["status"] = "Retired"
                self.retired_users.append(record)
                for key in [a for a in self.assignments if a[2] == cid]:
                    self._unassign(key)
            if cid in self.users and self.users[cid].get("managedAppleId"):
                self._apple_ids[str(self.users[cid]["managedAppleId"]).lower()] = cid
        return self._outcome(len(users), failed)

    def _forget_apple_id(self, cid: str) -> None:
        apple_id = str(self.users[cid].get("managedAppleId", "")).lower()
        if self._apple_ids.get(apple_id) == cid:
            del self._apple_ids[apple_id]

    def manage_assets(self, action: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise StandinError(400, 9602)
        assets, cids = body.get("assets"), body.get("clientUserIds")
        if not isinstance(assets, list) or not assets:
            raise StandinError(400, 9718)
        if not isinstance(cids, list) or not cids:
            raise StandinError(400, 9719)
        if len(assets) > self.limits["maxAssets"]:
            raise StandinError(400, 9700)
        if len(cids) > self.limits["maxClientUserIds"]:
            raise StandinError(400, 9701)
        if not all(isinstance(a, dict) and isinstance(a.get("adamId"), str) for a in assets) or \
                not all(isinstance(c, str) for c in cids):
            raise StandinError(400, 9602)
        pairs = [(a["adamId"], str(a.get("pricingParam") or "STDQ")) for a in assets]
        if len(set(pairs)) != len(pairs):
            raise StandinError(400, 9703)
        if len(set(cids)) != len(cids):
            raise StandinError(400, 9704)
        event_type = "ASSOCIATE" if action == "associate" else "DISASSOCIATE"
        return self._event(event_type, len(pairs) * len(cids), lambda: self._apply_assets(action, pairs, cids))

    def _apply_assets(self, action: str, pairs: list[tuple[str, str]],
                      cids: list[str]) -> tuple[int, list[dict[str, Any]]]:
        failed: dict[int, list[str]] = collections.defaultdict(list)
        for adam_id, pricing in pairs:
            asset = self.assets.get((adam_id, pricing))
            for cid in cids:
                key = (adam_id, pricing, cid)
                if asset is None:
                    failed[9602].append(cid)
                elif action == "disassociate":
                    self._unassign(key)
                elif cid not in self.users:
                    failed[9609].append(cid)
                elif key in self.assignments:
                    continue
                elif self._assigned[(adam_id, pricing)] < asset.total_count:
                    self.assignments.add(key)
                    self._assigned[(adam_id, pricing)] += 1
                else:
                    failed[9709].append(cid)
        return self._outcome(len(pairs) * len(cids), failed, pairs)

    def _unassign(self, key: tuple[str, str, str]) -> None:
        if key in self.assignments:
            self.assignments.remove(key)
            self._assigned[key[:2]] -= 1

    @staticmethod
    def _outcome(requested: int, failed: dict[int, list[str]],
                 pairs: list[tuple[str, str]] | None = None) -> tuple[int, list[dict[str, Any]]]:
        failures = []
        for code, cids in failed.items():
            info: dict[str, Any] = {"clientUserIds": cids}
            if pairs:
                info["assets"] = [{"adamId": a, "pricingParam": p} for a, p in pairs]
            failures.append({"errorNumber": code, "errorMessage": ERROR_MESSAGES[code], "errorInfo": info})
        return requested - sum(len(c) for c in failed.values()), failures

    def set_client_config(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("clientContext", ""), str):
            raise StandinError(400, 9602)
        if len(body.get("clientContext", "")) > 512:
            raise StandinError(400, 9602)
        for key in ("clientContext", "notificationUrl", "notificationTypes", "mdmInfo"):
            if key in body:
                self.client_config[key] = body[key]
        return self.client_config_answer()

    # -- keeping the location between runs (the demo) -------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The location as JSON: assets, users, assignments, client config and the finished events'
        answers (the events under way are completed first), for :meth:`restore` in a later run."""
        with self.lock:
            self.complete_due(everything=True)
            return {"uid": self.uid, "client_config": self.client_config,
                    "assets": [vars(asset) for asset in self.assets.values()],
                    "users": list(self.users.values()), "retired_users": self.retired_users,
                    "assignments": sorted(self.assignments),
                    "events": {event_id: event.answer() for event_id, event in self.events.items()}}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Take back a :meth:`snapshot`: the same location, its users and their licenses."""
        with self.lock:
            self.uid = str(snapshot["uid"])
            self.client_config = dict(snapshot.get("client_config") or {})
            for asset in snapshot.get("assets") or ():
                self.assets[(asset["adam_id"], asset["pricing_param"])] = StandinAsset(**asset)
            self.users = {user["clientUserId"]: user for user in snapshot.get("users") or ()}
            self.retired_users = list(snapshot.get("retired_users") or ())
            self.assignments = {tuple(key) for key in snapshot.get("assignments") or ()}
            self._assigned = collections.Counter(key[:2] for key in self.assignments)
            self._apple_ids = {str(user["managedAppleId"]).lower(): cid for cid, user in self.users.items()
                               if user.get("managedAppleId")}
            for event_id, answer in (snapshot.get("events") or {}).items():
                self.events[event_id] = _Event(event_id, answer.get("eventType", ""), 0.0, lambda: (0, []),
                                               answer.get("numRequested", 0), done=True,
                                               num_completed=answer.get("numCompleted", 0),
                                               failures=list(answer.get("failures") or ()))

    def client_config_answer(self) -> dict[str, Any]:
        return {"countryISO2ACode": "US", "defaultPlatform": "volumestore", "locationName": self.location_name,
                "uId": self.uid, **self.client_config}
