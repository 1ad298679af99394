"""Changing an app's scope and reading its status, with the audit record, the reconciliation and a
first batch of commands, so the API and the admin pages do the same thing (as ``portal.profiles.service``)."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..database.locks import Lock, hold
from ..models import App, AppLicense, AppState, AppUser, Device, Profile, ProfileState
from ..models.app import AppStatus
from ..models.profile import INSTALL, ProfileStatus
from ..models.base import utcnow
from ..profiles.service import ScopeChange
from ..scope.resolve import change_counts
from ..scope.targets import Scope, ScopeError, load_scopes, save_scope, smart_group_criteria
from .catalogue import AppRejected
from .delivery import deliver
from .desired import ITEM_TYPE, reconcile, scope_devices
from .licenses import licenses_needed, reconcile_licenses

#: The statuses the API counts (``removed`` rows are history; ``installing`` counts as pending).
COUNTED_STATUSES = ("pending", "installed", "failed", "removing", "no_license")


def preview_scope(session: Session, app: App, scope: Scope) -> ScopeChange:
    """How many devices ``scope`` would add and remove, against the stored one."""
    try:
        smart_group_criteria(session, scope)
    except ScopeError as exc:
        raise AppRejected(exc.status, "invalid_scope", str(exc)) from None
    now = utcnow()
    stored = load_scopes(session, ITEM_TYPE, [app.id]).get(app.id, Scope())
    added, removed = change_counts(session, scope_devices(session, stored, now), scope_devices(session, scope, now))
    return ScopeChange(added, removed)


def set_scope(session: Session, app: App, scope: Scope) -> ScopeChange:
    """Save ``scope`` and bring the devices in line; App Store apps wait for the worker to assign licenses."""
    hold(session, Lock.DESIRED_STATE)  # first: a reconciliation follows its writes (portal.database.locks)
    change = preview_scope(session, app, scope)
    save_scope(session, ITEM_TYPE, app.id, scope)
    audit.record("app.scope_changed", target_type="app", target_id=app.id,
                 detail={"scope": scope.to_json(), "devices_added": change.devices_added,
                         "devices_removed": change.devices_removed})
    reconcile(session, app_ids=[app.id])
    reconcile_licenses(session)
    deliver(session, app_ids=[app.id])
    return change


def configuration_changed(session: Session, app: App) -> None:
    """Send the new configuration (Settings) to the devices that have the app."""
    reconcile(session, app_ids=[app.id])
    deliver(session, app_ids=[app.id])


def delete_app(session: Session, app: App, actor: str | None) -> None:
    """Remove the app from every device; the row stays (history, and the licenses to release)."""
    hold(session, Lock.DESIRED_STATE)  # first: a reconciliation follows its writes (portal.database.locks)
    app.deleted_at = app.updated_at = utcnow()
    app.updated_by = actor
    save_scope(session, ITEM_TYPE, app.id, Scope())
    audit.record("app.deleted", target_type="app", target_id=app.id, detail={"adam_id": app.adam_id})
    session.flush()
    reconcile(session, app_ids=[app.id])
    reconcile_licenses(session)
    deliver(session, app_ids=[app.id])


def status_counts(session: Session, app_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per app, how many devices are in each counted status."""
    counts = {app_id: dict.fromkeys(COUNTED_STATUSES, 0) for app_id in app_ids}
    if app_ids:
        rows = session.execute(select(AppState.app_id, AppState.status, func.count())
                               .where(AppState.app_id.in_(app_ids), AppState.status != AppStatus.REMOVED)
                               .group_by(AppState.app_id, AppState.status))
        for app_id, status, count in rows:
            key = AppStatus.PENDING if status == AppStatus.INSTALLING else status
            counts[app_id][key] += count
    return counts


def app_json(session: Session, app: App, counts: dict[str, int] | None = None, needed: int | None = None) -> dict:
    """An app as the API and the pages show it."""
    return {"id": app.id, "source": app.source, "adam_id": app.adam_id, "pricing_param": app.pricing_param,
            "manifest_url": app.manifest_url, "name": app.name, "bundle_id": app.bundle_id, "icon_url": app.icon_url,
            "licenses": {"total": app.licenses_total, "assigned": app.licenses_assigned,
                         "available": app.licenses_available,
                         "needed": needed if needed is not None else licenses_needed(session, [app.id])[app.id]},
            "has_configuration": app.configuration is not None, "vpn_profile_id": app.vpn_profile_id,
            "remove_on_unenroll": app.remove_on_unenroll, "in_service": app.in_service,
            "counts": counts if counts is not None else status_counts(session, [app.id])[app.id],
            "updated_at": app.updated_at.isoformat()}


def waiting_reasons(session: Session, app: App, states: list[AppState]) -> dict[int, str]:
    """Per device id, why its install of ``app`` waits with nothing sent (the row shows no error of its own):
    the person's registration or license the Apps and Books service refused (and when it is tried again), or
    the per-app VPN profile not installed there. Three statements at most, whatever the number of rows."""
    waiting = [state.device_id for state in states if state.operation == INSTALL and state.last_command_uuid is None
               and state.status in (AppStatus.PENDING, AppStatus.INSTALLING) and not state.error]
    reasons: dict[int, str] = {}
    if not waiting:
        return reasons
    if app.source == "vpp":
        person = (select(Device.id, AppUser.error, AppUser.next_attempt_at, AppLicense.error,
                         AppLicense.next_attempt_at)
                  .join(AppUser, AppUser.managed_apple_id == Device.managed_apple_id)
                  .outerjoin(AppLicense, (AppLicense.app_user_id == AppUser.id) & (AppLicense.app_id == app.id))
                  .where(Device.id.in_(waiting), (AppUser.error.isnot(None)) | (AppLicense.error.isnot(None))))
        for device_id, user_error, user_retry, license_error, license_retry in session.execute(person):
            error, retry = (user_error, user_retry) if user_error else (license_error, license_retry)
            reasons[device_id] = error + (f"; tried again at {retry:%Y-%m-%d %H:%M} UTC" if retry else "")
    if app.vpn_uuid is not None:
        profile = session.get(Profile, app.vpn_profile_id) if app.vpn_profile_id is not None else None
        if profile is None or profile.deleted_at is not None:
            for device_id in waiting:
                reasons.setdefault(device_id, "the app's per-app VPN profile was deleted: choose another on the "
                                              "app's page")
            return reasons
        on_device = dict(session.execute(select(ProfileState.device_id, ProfileState.status).where(
            ProfileState.profile_id == profile.id, ProfileState.device_id.in_(waiting),
            ProfileState.operation == INSTALL)).all())
        for device_id in waiting:
            if device_id not in on_device:
                reasons.setdefault(device_id, f"the per-app VPN profile \u201c{profile.name}\u201d is not in this "
                                              "device's scope: add the device to its scope or choose another VPN")
            elif on_device[device_id] != ProfileStatus.INSTALLED:
                reasons.setdefault(device_id, f"waiting for the per-app VPN profile \u201c{profile.name}\u201d to be "
                                              "installed on this device")
    return reasons


def device_apps(session: Session, device_ids: list[int]) -> dict[int, list[tuple[App, AppState]]]:
    """Per device id, the organisation's apps with their state there (the device page and ``/me``), in one
    statement for every device."""
    rows: dict[int, list[tuple[App, AppState]]] = {}
    if device_ids:
        for app, state in session.execute(select(App, AppState).join(AppState, AppState.app_id == App.id)
                                          .where(AppState.device_id.in_(device_ids),
                                                 AppState.status != AppStatus.REMOVED)
                                          .order_by(App.name, App.id)):
            rows.setdefault(state.device_id, []).append((app, state))
    return rows
