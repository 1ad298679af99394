"""Managed-app declarations drawing on the app catalogue (``portal.apps``).

A ``com.apple.configuration.app.managed`` declaration may name a catalogue app (``app_id``): the server
writes what installs it, the ``AppStoreID`` of an App Store app (with the user-based license Apple requires
be stated, ``InstallBehavior.License.Assignment`` ``User``) or an in-house app's ``ManifestURL``; Apple
takes one and only one of ``AppStoreID``, ``BundleID`` and ``ManifestURL``, so the bundle ID is not added.

An App Store app needs its person's license exactly as on the command path: the people the declaration's
scope reaches are wanted licenses by ``portal.apps.licenses`` (``declared_apps``, a registered source), and
the declaration joins a device's set only once that person holds the license
(``portal.apps.licenses.holds_license``), as an InstallApplication is sent only then.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, literal, select, union
from sqlalchemy.orm import Session

from mdm_core.ddm import MANAGED_APP_TYPE

from ..apps.licenses import register_license_source
from ..ids import json_id
from ..models import App, Declaration
from ..scope.targets import load_scopes

_INSTALLED_BY = ("AppStoreID", "BundleID", "ManifestURL")


def catalogue_app(session: Session, kind_type: str, app_id: Any) -> App | None:
    """The catalogue app a declaration names (None when it names none); ValueError saying why it cannot."""
    if app_id is None:
        return None
    if kind_type != MANAGED_APP_TYPE:
        raise ValueError(f"app_id is only for {MANAGED_APP_TYPE}")
    if json_id(app_id) is None:
        raise ValueError("app_id must be the id of a catalogue app")
    app = session.get(App, app_id)
    if app is None or app.deleted_at is not None:
        raise LookupError(f"no app {app_id} in the catalogue")
    return app


def app_payload(payload: dict[str, Any], app: App) -> dict[str, Any]:
    """The payload with what installs ``app`` (whatever named another app before is replaced)."""
    payload = {key: value for key, value in payload.items() if key not in _INSTALLED_BY}
    if app.source != "vpp":
        return {**payload, "ManifestURL": app.manifest_url}
    behaviour = payload.get("InstallBehavior") if isinstance(payload.get("InstallBehavior"), dict) else {}
    license_ = behaviour.get("License") if isinstance(behaviour.get("License"), dict) else {}
    return {**payload, "AppStoreID": app.adam_id,
            "InstallBehavior": {**behaviour, "License": {**license_, "Assignment": "User"}}}


def store_apps(session: Session, *, live: bool = False) -> dict[int, int]:
    """Declaration id -> App Store app id, for the declarations naming one (``live``: one still in the
    catalogue; an app taken out of it wants no license, so its declaration leaves every set)."""
    statement = select(Declaration.id, App.id).join(App, App.id == Declaration.app_id).where(App.source == "vpp")
    return dict(session.execute(statement.where(App.deleted_at.is_(None)) if live else statement).all())


@register_license_source
def declared_apps(session: Session, now: datetime) -> Select | None:
    """``(app_id, device_id)`` of the devices reached by the scope of a declaration that brings a managed-app
    declaration naming an App Store app (itself, or an activation naming it), whether or not the license is
    there yet: these are who needs one; None when there are none."""
    from .desired import brought_along, references, scope_devices  # desired gates sets with this module's license condition

    named = store_apps(session, live=True)
    if not named:
        return None
    ids, refers = references(session)
    scopes = load_scopes(session, "declaration")
    branches = [scope_devices(session, scopes[root], now).add_columns(literal(named[ids[member]], Integer).label("app_id"))
                for identifier, root in ids.items() if root in scopes and not scopes[root].empty
                for member in brought_along(refers, identifier) if ids.get(member) in named]
    if not branches:
        return None
    pairs = (union(*branches) if len(branches) > 1 else branches[0]).subquery()
    return select(pairs.c.app_id, pairs.c.id.label("device_id"))
