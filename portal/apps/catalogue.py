"""The app catalogue: App Store apps from the location's assets (with their license counts), their
names, bundle IDs and icons from the iTunes lookup service, in-house apps by manifest URL, and the
per-app settings (configuration, per-app VPN).

The lookup (``ITUNES_LOOKUP_URL``, ``off`` when the server is offline) is best effort: without it the
admin types the name and bundle ID. Its answer is untrusted JSON from the network: bounded in size
and depth, and only strings of bounded length are taken.
"""
from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx
from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mdm_core import bounded_json, mobileconfig

from .. import audit
from ..ids import json_id
from ..models import App, Profile
from ..models.base import utcnow
from .configuration import ConfigurationError, parse_configuration, stored

log = logging.getLogger(__name__)
LOOKUP_TIMEOUT = 10.0
LOOKUP_MAX_BYTES = 1024 * 1024
LOOKUP_BATCH = 100
PER_APP_VPN = "com.apple.vpn.managed.applayer"


class AppRejected(ValueError):
    """The change cannot be made: ``status``, ``error`` code and ``detail`` for the API."""

    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.error, self.detail = status, error, detail


def sync_assets(session: Session, assets: Iterable[Any]) -> int:
    """Bring the catalogue's App Store apps in line with the location's assets (``mdm_core.vpp`` Assets):
    new ones are added, counts refreshed, apps no longer among the assets marked. Returns how many
    assets there are. The names still missing are looked up first, before any row is written: the lookup is a
    network call, and rows written before it stay locked through it. The caller commits."""
    usable = []
    for asset in assets:
        if not is_adam_id(asset.adam_id) or not (0 < len(asset.pricing_param) <= 10
                                                 and _ascii_text(asset.pricing_param)):
            log.warning("asset skipped: the service sent an unusable adamId or pricingParam")
            continue
        usable.append(asset)
    known = dict(session.execute(select(App.adam_id, App.name).where(App.source == "vpp")).all())
    found = lookup_metadata({asset.adam_id for asset in usable if not known.get(asset.adam_id)}
                            | {adam_id for adam_id, name in known.items() if not name})
    by_adam = {app.adam_id: app for app in session.scalars(select(App).where(App.source == "vpp"))}
    seen = set()
    for asset in usable:
        adam_id = asset.adam_id
        seen.add(adam_id)
        app = by_adam.get(adam_id)
        if app is None:
            app = by_adam[adam_id] = App(source="vpp", adam_id=adam_id, created_by="system:apps")
            session.add(app)
        app.pricing_param = asset.pricing_param
        app.licenses_total, app.licenses_assigned = int(asset.total_count), int(asset.assigned_count)
        app.licenses_available = max(int(asset.available_count), 0)
        app.device_assignable = bool(asset.device_assignable)
        app.in_service = True
    for adam_id, app in by_adam.items():
        if adam_id not in seen and app.in_service:
            app.in_service, app.licenses_available = False, 0
    session.flush()
    if found:  # only what is still missing, in one statement: an admin's name, saved while the lookup was out, stays
        session.connection().execute(_FILL_MISSING, [{"b_adam": adam_id, "b_name": name, "b_bundle": bundle_id,
                                                      "b_icon": icon_url}
                                                     for adam_id, (name, bundle_id, icon_url) in found.items()])
    return len(seen)


_apps = App.__table__
_FILL_MISSING = (_apps.update().where(_apps.c.source == "vpp", _apps.c.adam_id == bindparam("b_adam"))
                 .values(name=func.coalesce(_apps.c.name, bindparam("b_name")),
                         bundle_id=func.coalesce(_apps.c.bundle_id, bindparam("b_bundle")),
                         icon_url=func.coalesce(_apps.c.icon_url, bindparam("b_icon"))))


def lookup_metadata(adam_ids: Iterable[str]) -> dict[str, tuple[str | None, str | None, str | None]]:
    """Name, bundle ID and icon URL by App Store ID from the lookup service, each the first a result gives (none
    when it is off or unreachable)."""
    url = current_app.config.get("ITUNES_LOOKUP_URL")
    ids = sorted(set(adam_ids))
    found: dict[str, tuple[str | None, str | None, str | None]] = {}
    if not url:
        return found
    for start in range(0, len(ids), LOOKUP_BATCH):
        asked = set(ids[start:start + LOOKUP_BATCH])
        for result in _lookup(url, sorted(asked)):
            adam_id = str(result.get("trackId"))
            if adam_id not in asked:
                continue
            icon = _text(result.get("artworkUrl512") or result.get("artworkUrl100"), 2000)
            fields = (_text(result.get("trackName"), 255), _text(result.get("bundleId"), 255),
                      icon if icon and icon.startswith("https://") else None)
            before = found.get(adam_id, (None, None, None))
            found[adam_id] = tuple(old or new for old, new in zip(before, fields))  # type: ignore[assignment]
    return found


def fill_metadata(app: App, found: dict[str, tuple[str | None, str | None, str | None]]) -> None:
    """A new App Store app's name, bundle ID and icon from the lookup's results, where the admin gave none."""
    name, bundle_id, icon_url = found.get(app.adam_id or "", (None, None, None))
    app.name, app.bundle_id, app.icon_url = app.name or name, app.bundle_id or bundle_id, app.icon_url or icon_url


def _lookup(url: str, ids: list[str]) -> list[dict[str, Any]]:
    try:
        # VPP_CA_BUNDLE: the demo's and benchmark's stand-in serves the lookup too; unset (Apple), system trust
        bundle = current_app.config.get("VPP_CA_BUNDLE")
        verify = ssl.create_default_context(cafile=bundle) if bundle else True
        with httpx.Client(timeout=LOOKUP_TIMEOUT, verify=verify) as http:
            with http.stream("GET", url, params={"id": ",".join(ids), "entity": "software"}) as response:
                response.raise_for_status()
                body = bytearray()  # appended in place: a trickle of tiny chunks costs linear time
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > LOOKUP_MAX_BYTES:
                        raise ValueError("the lookup answer is too large")
        results = bounded_json.loads(bytes(body)).get("results")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("app lookup skipped: %s", exc.__class__.__name__)
        return []
    return [result for result in results if isinstance(result, dict)] if isinstance(results, list) else []


def is_adam_id(value: Any) -> bool:
    """An App Store ID: ASCII digits, at most 20 of them."""
    return isinstance(value, str) and 0 < len(value) <= 20 and _ascii_text(value) and value.isdigit()


def _ascii_text(value: str) -> bool:
    return value.isascii() and value.isprintable()


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value.isprintable() and value else None


def _is_https_url(value: Any) -> bool:
    """An https URL a database can store and a phone can fetch (no NUL, control character or lone surrogate,
    which PostgreSQL refused with a 500); ``urlsplit`` raises on a malformed IPv6 host."""
    if not isinstance(value, str) or len(value) > 2000 or not value.isprintable():
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.netloc)


def add_app(session: Session, document: Any, actor: str | None) -> App:
    """A new catalogue entry from ``{"adam_id"}`` or ``{"manifest_url"}`` (with optional ``name``,
    ``bundle_id``, ``configuration``, ``vpn_profile_id``). The caller commits."""
    if not isinstance(document, dict):
        raise AppRejected(400, "bad_request", 'send a JSON object: {"adam_id": "..."} or {"manifest_url": "..."}')
    adam_id, manifest_url = document.get("adam_id"), document.get("manifest_url")
    if (adam_id is None) == (manifest_url is None):
        raise AppRejected(400, "bad_request", "give exactly one of adam_id and manifest_url")
    if adam_id is not None:
        adam_id = str(adam_id) if isinstance(adam_id, int) and not isinstance(adam_id, bool) else adam_id
        if not is_adam_id(adam_id):
            raise AppRejected(400, "bad_request", "adam_id must be the App Store ID, digits only")
        if session.scalar(select(App.id).where(App.adam_id == adam_id)) is not None:
            raise AppRejected(409, "app_exists", f"the app {adam_id} is already in the catalogue")
        app = App(source="vpp", adam_id=adam_id, pricing_param="STDQ", in_service=False)
    else:
        if not _is_https_url(manifest_url):
            raise AppRejected(400, "bad_request", "manifest_url must be an https URL of at most 2000 printable "
                                                  "characters")
        app = App(source="manifest", manifest_url=manifest_url)
    app.created_by = app.updated_by = actor
    session.add(app)
    update_app(session, app, {k: v for k, v in document.items() if k not in ("adam_id", "manifest_url")},
               actor, created=True)
    if app.source == "vpp" and not app.name:
        fill_metadata(app, lookup_metadata([app.adam_id]))
    session.flush()
    audit.record("app.created", target_type="app", target_id=app.id,
                 detail={"source": app.source, "adam_id": app.adam_id, "manifest_url": app.manifest_url})
    return app


EDITABLE = ("name", "bundle_id", "configuration", "vpn_profile_id")


def update_app(session: Session, app: App, changes: Any, actor: str | None, *, created: bool = False) -> list[str]:
    """Apply ``changes`` (any of ``EDITABLE``); returns the names of what changed. The caller commits
    (and reconciles: a new configuration goes to the devices with Settings)."""
    if not isinstance(changes, dict):
        raise AppRejected(400, "bad_request", f"send a JSON object with any of {', '.join(EDITABLE)}")
    unknown = sorted(str(key) for key in changes if key not in EDITABLE)
    if unknown:
        raise AppRejected(400, "bad_request", f"unknown key(s) {', '.join(unknown)[:200]}; known: {', '.join(EDITABLE)}")
    changed = []
    for key in ("name", "bundle_id"):
        if key in changes:
            value = changes[key]
            if value is not None and (not isinstance(value, str) or not value.isprintable() or len(value) > 255):
                raise AppRejected(400, "bad_request", f"{key} must be printable text of at most 255 characters")
            value = value.strip() or None if value else None
            if value != getattr(app, key):
                setattr(app, key, value)
                changed.append(key)
    if "configuration" in changes:
        try:
            data, revision = stored(parse_configuration(changes["configuration"]))
        except ConfigurationError as exc:
            raise AppRejected(422, "invalid_configuration", str(exc)) from None
        if revision != app.configuration_revision:
            app.configuration, app.configuration_revision = data, revision
            changed.append("configuration")
    if "vpn_profile_id" in changes:
        profile_id = changes["vpn_profile_id"]
        vpn_uuid = per_app_vpn_uuid(session, profile_id) if profile_id is not None else None
        if (profile_id, vpn_uuid) != (app.vpn_profile_id, app.vpn_uuid):
            app.vpn_profile_id, app.vpn_uuid = profile_id, vpn_uuid
            changed.append("vpn_profile_id")
    if changed and not created:
        app.updated_at, app.updated_by = utcnow(), actor
        audit.record("app.updated", target_type="app", target_id=app.id, detail={"changed": changed})
    return changed


def per_app_vpn_uuid(session: Session, profile_id: Any) -> str:
    """The ``VPNUUID`` of a library profile's per-app VPN payload; AppRejected when it has none."""
    if not isinstance(profile_id, int) or isinstance(profile_id, bool):
        raise AppRejected(400, "bad_request", "vpn_profile_id must be a profile id or null")
    profile = session.get(Profile, profile_id) if json_id(profile_id) is not None else None  # none past 64 bits
    if profile is None or profile.deleted_at is not None:
        raise AppRejected(422, "invalid_vpn_profile", f"no profile {profile_id}")
    for payload in vpn_payloads(profile):
        return payload
    raise AppRejected(422, "invalid_vpn_profile", f"profile {profile_id} has no {PER_APP_VPN} payload with a VPNUUID")


def vpn_payloads(profile: Profile) -> list[str]:
    """The VPNUUIDs of a profile's per-app VPN payloads."""
    return _vpn_uuids(profile.content)


def _vpn_uuids(data: bytes) -> list[str]:
    try:
        content = mobileconfig.decode(data).profile
    except mobileconfig.MobileconfigError:
        return []
    return [payload["VPNUUID"] for payload in content.get("PayloadContent") or ()
            if isinstance(payload, dict) and payload.get("PayloadType") == PER_APP_VPN
            and isinstance(payload.get("VPNUUID"), str) and payload["VPNUUID"]]


def per_app_vpn_profiles(session: Session) -> list[tuple[int, str]]:
    """``(id, name)`` of the library profiles an app can use for its per-app VPN (one query: ``content``
    is deferred, so reading it from each row would be one more query a profile)."""
    rows = session.execute(select(Profile.id, Profile.name, Profile.content)
                           .where(Profile.deleted_at.is_(None)).order_by(Profile.name))
    return [(profile_id, name) for profile_id, name, content in rows if _vpn_uuids(bytes(content))]
