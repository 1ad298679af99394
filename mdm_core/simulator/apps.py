"""The simulated iPhone's managed apps: installing, listing, configuring and removing them.

Follows Apple's schemas (``application.install``, ``application.managed.list``, ``settings``'s
``ApplicationConfiguration``, ``managed.application.configuration``/``attributes``,
``application.remove``). A user-enrolled phone installs an App Store app only through a Volume
Purchase assignment (``Options.PurchaseMethod`` 1) to its user's Managed Apple ID: the device asks
``license_check(managed_apple_id, adam_id)`` (the Apps and Books stand-in answers) and refuses the
install when no license is assigned. An app the phone accepts shows ``Prompting`` in the install's
answer, then ``Installing`` and ``Managed`` in the next ``ManagedApplicationList`` answers (or
``UserRejected`` once, with ``Behaviour.rejects_apps``). An install by bundle identifier alone
completes at once (the app is on the phone already, as older tests and demos assume).
"""
from __future__ import annotations

import plistlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from mdm_core.capabilities import check_command
from mdm_core.simulator.errors import CommandRefused
from mdm_core.vpp.standin_state import store_bundle_id  # the simulated App Store is the stand-in's

if TYPE_CHECKING:
    from mdm_core.simulator.device import SimulatedDevice

#: The steps after the install's answer (``Prompting``), one per ManagedApplicationList answer.
INSTALL_STEPS = ("Prompting", "Installing", "Managed")
REMOVE_ON_UNENROLL = 1  # ManagementFlags bit: remove the app when the MDM profile goes


@dataclass
class ManagedApp:
    """One app MDM installed (or is installing) and what the phone keeps about it."""

    identifier: str
    status: str = "Managed"
    management_flags: int = 0
    configuration: dict[str, Any] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    itunes_store_id: int | None = None
    manifest_url: str | None = None
    external_version: int = 1

    def list_entry(self) -> dict[str, Any]:
        return {"Status": self.status, "ManagementFlags": self.management_flags,
                "HasConfiguration": self.configuration is not None, "HasFeedback": False, "IsValidated": True,
                "ExternalVersionIdentifier": self.external_version}


def install_application(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    store_id, manifest_url = command.get("iTunesStoreID"), command.get("ManifestURL")
    if store_id is not None and (not isinstance(store_id, int) or isinstance(store_id, bool)):
        raise CommandRefused("MCMDMErrorDomain", 12001, "iTunesStoreID must be an integer")
    if store_id is not None:
        bundle_id = _store_install(device, command, store_id)
    elif manifest_url is not None:
        bundle_id = _manifest_bundle_id(device, manifest_url)
    elif isinstance(command.get("Identifier"), str):
        bundle_id = command["Identifier"]
    else:
        raise CommandRefused("MCMDMErrorDomain", 12001, "Identifier, iTunesStoreID or ManifestURL is required")
    if device.enrollment_type == "user" and (bundle_id in device.personal_apps or any(
            problem.forbids_user_enrollment for problem in check_command("user", command))):
        # ChangeManagementState (taking over an app the user installed) is forbidden under User Enrollment.
        raise CommandRefused("MCMDMErrorDomain", 12081, "A personal app cannot be managed under User Enrollment.")
    current = device.apps.get(bundle_id)
    if current is not None and current.status not in ("Managed", "ManagedButUninstalled"):
        return {"Identifier": bundle_id, "State": current.status, "RejectionReason": "AppAlreadyQueued"}
    flags = command.get("ManagementFlags") if isinstance(command.get("ManagementFlags"), int) else 0
    if device.enrollment_type == "user":
        flags |= REMOVE_ON_UNENROLL  # always true under User Enrollment
    configuration = command.get("Configuration") if isinstance(command.get("Configuration"), dict) else None
    attributes = command.get("Attributes") if isinstance(command.get("Attributes"), dict) else {}
    if current is not None:  # reinstalling a managed app updates it in place
        current.management_flags, current.attributes = flags, dict(attributes) or current.attributes
        current.configuration = configuration if configuration is not None else current.configuration
        return {"Identifier": bundle_id, "State": "Managed"}
    immediate = store_id is None and manifest_url is None
    app = ManagedApp(bundle_id, "Managed" if immediate else INSTALL_STEPS[0], flags, configuration, dict(attributes),
                     store_id, manifest_url)
    device.apps[bundle_id] = app
    if immediate:
        device.managed_apps[bundle_id] = _name(bundle_id)
    return {"Identifier": bundle_id, "State": app.status}


def _store_install(device: SimulatedDevice, command: dict[str, Any], store_id: int) -> str:
    options = command.get("Options") if isinstance(command.get("Options"), dict) else {}
    purchase_method = options.get("PurchaseMethod", 0)
    if device.enrollment_type == "user":
        if purchase_method != 1:
            # Apple: PurchaseMethod 1 is required "to install an iOS app with user enrollment".
            raise CommandRefused("MCMDMErrorDomain", 12094, "The app can only be installed with a Volume Purchase "
                                 "assignment (PurchaseMethod 1) under User Enrollment.")
        apple_id = device.managed_apple_id
        if device.license_check is not None and not (apple_id and device.license_check(apple_id, str(store_id))):
            # 9610 is "License not found" in Apple's table of error codes (Interpreting error codes).
            raise CommandRefused("MCMDMErrorDomain", 12024, "The app could not be installed.",
                                 [("ASDErrorDomain", 9610, "License not found")])
    return store_bundle_id(store_id)


def _manifest_bundle_id(device: SimulatedDevice, url: Any) -> str:
    """An in-house app: the phone reads the manifest (a plist with ``items[0].metadata.bundle-identifier``)."""
    parts = _split(url) if isinstance(url, str) else None
    if parts is None or parts.scheme != "https":
        raise CommandRefused("MCMDMErrorDomain", 12001, "ManifestURL must begin with https:")
    if device.fetch_manifest is None:
        return unread_manifest_bundle_id(url)
    try:
        manifest = plistlib.loads(device.fetch_manifest(url))
        bundle_id = manifest["items"][0]["metadata"]["bundle-identifier"]
    except Exception:  # noqa: BLE001 (anything unreadable is the same failure to the phone)
        raise CommandRefused("MCMDMErrorDomain", 12025, "The app manifest could not be read.") from None
    if not isinstance(bundle_id, str) or not bundle_id:
        raise CommandRefused("MCMDMErrorDomain", 12025, "The app manifest could not be read.")
    return bundle_id


def unread_manifest_bundle_id(url: str) -> str:
    """The bundle ID of an in-house app whose manifest the phone is given no way to read: named from the URL."""
    parts = _split(url)
    stem = (parts.path if parts else "").rsplit("/", 1)[-1].rsplit(".", 1)[0] or "app"
    return f"com.example.inhouse.{stem}"


def _split(url: str) -> SplitResult | None:
    """The URL's parts, None for one no phone could read ("https://[::1")."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def _name(bundle_id: str) -> str:
    return bundle_id.rsplit(".", 1)[-1].title()


def _advance(device: SimulatedDevice, app: ManagedApp) -> None:
    """One step of an install the user goes through, as the next ManagedApplicationList shows it."""
    if app.status not in INSTALL_STEPS[:-1]:
        return
    if device.behaviour.rejects_apps and app.status == INSTALL_STEPS[0]:
        app.status = "UserRejected"
        return
    app.status = INSTALL_STEPS[INSTALL_STEPS.index(app.status) + 1]
    if app.status == "Managed":
        device.managed_apps[app.identifier] = _name(app.identifier)


def managed_application_list(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    wanted = command.get("Identifiers")
    listed: dict[str, Any] = {}
    for bundle_id in list(device.apps):
        if wanted and bundle_id not in wanted:
            continue
        app = device.apps[bundle_id]
        if app.status == "UserRejected":  # a transient status reports once
            del device.apps[bundle_id]
            continue
        _advance(device, app)
        listed[bundle_id] = app.list_entry()
    for bundle_id in device.managed_apps:  # apps placed on the phone by a test, without an install
        if bundle_id not in device.apps and (not wanted or bundle_id in wanted):
            listed[bundle_id] = ManagedApp(bundle_id).list_entry()
    return {"ManagedApplicationList": listed}


def remove_application(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    bundle_id = command.get("Identifier")
    if bundle_id not in device.managed_apps and bundle_id not in device.apps:
        raise CommandRefused("MCMDMErrorDomain", 12029, f"The app “{bundle_id}” is not managed.")
    device.managed_apps.pop(bundle_id, None)
    device.apps.pop(bundle_id, None)
    return {}


def managed_application_configuration(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    return {"ApplicationConfigurations": [
        {"Identifier": app.identifier, **({"Configuration": app.configuration} if app.configuration else {})}
        for app in _selected(device, command)]}


def managed_application_attributes(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    return {"ApplicationAttributes": [{"Identifier": app.identifier, "Attributes": dict(app.attributes)}
                                      for app in _selected(device, command)]}


def _selected(device: SimulatedDevice, command: dict[str, Any]) -> list[ManagedApp]:
    wanted = command.get("Identifiers")
    if not isinstance(wanted, list):
        raise CommandRefused("MCMDMErrorDomain", 12001, "Identifiers must be an array")
    return [device.apps[i] for i in wanted if isinstance(i, str) and i in device.apps]


def settings(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    """``Settings``: each item answered on its own (``Settings`` array of ``Status``/``ErrorChain``)."""
    items = command.get("Settings")
    if not isinstance(items, list):
        raise CommandRefused("MCMDMErrorDomain", 12001, "Settings must be an array")
    return {"Settings": [_setting(device, item) for item in items]}


def _setting(device: SimulatedDevice, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return _item_error(None, 12001, "A setting must be a dictionary")
    kind, identifier = item.get("Item"), item.get("Identifier")
    if kind not in ("ApplicationConfiguration", "ApplicationAttributes"):
        return _item_error(identifier, 12021, f"The setting “{kind}” is not supported.")
    app = device.apps.get(identifier) if isinstance(identifier, str) else None
    if app is None:
        return _item_error(identifier, 12029, f"The app “{identifier}” is not managed.")
    if kind == "ApplicationConfiguration":
        configuration = item.get("Configuration")
        app.configuration = dict(configuration) if isinstance(configuration, dict) else None  # omitted: removed
    else:
        attributes = item.get("Attributes")
        app.attributes = dict(attributes) if isinstance(attributes, dict) else {}
    return {"Status": "Acknowledged", "Identifier": identifier}


def _item_error(identifier: Any, code: int, text: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"Status": "Error", "ErrorChain": CommandRefused("MCMDMErrorDomain", code, text).error_chain}
    if isinstance(identifier, str):
        answer["Identifier"] = identifier
    return answer
