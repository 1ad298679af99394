"""The commands of managed apps, as Apple documents them (InstallApplication, Settings with an
ApplicationConfiguration item, ManagedApplicationList, RemoveApplication), and how to read the
status a ``ManagedApplicationList`` gives each app."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mdm_core.commands import build_command

#: ManagementFlags bit 1: remove the app (and its data) when the MDM profile is removed.
REMOVE_ON_UNENROLL = 1
#: Options.PurchaseMethod 1: install with a license the organisation assigned (Apps and Books).
PURCHASE_METHOD_ASSIGNED = 1
#: ManagedApplicationList statuses: the app is there and managed; it failed for good.
MANAGED = frozenset({"Managed"})
FAILED = frozenset({"Failed", "UserRejected", "UpdateRejected", "ManagedButUninstalled", "UserInstalledApp"})


def install_app(*, itunes_store_id: int | None = None, manifest_url: str | None = None,
                remove_on_unenroll: bool = True, configuration: Mapping[str, Any] | None = None,
                vpn_uuid: str | None = None) -> dict[str, Any]:
    """InstallApplication for an App Store app with an assigned license (``itunes_store_id``) or an
    in-house app (``manifest_url``), with its managed configuration and per-app VPN."""
    if (itunes_store_id is None) == (manifest_url is None):
        raise ValueError("give exactly one of itunes_store_id and manifest_url")
    keys: dict[str, Any] = ({"iTunesStoreID": itunes_store_id, "Options": {"PurchaseMethod": PURCHASE_METHOD_ASSIGNED}}
                            if manifest_url is None else {"ManifestURL": manifest_url})
    keys["ManagementFlags"] = REMOVE_ON_UNENROLL if remove_on_unenroll else 0
    if configuration is not None:
        keys["Configuration"] = dict(configuration)
    if vpn_uuid:
        keys["Attributes"] = {"VPNUUID": vpn_uuid}
    return build_command("InstallApplication", **keys)


def configure_app(identifier: str, configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    """Settings with one ApplicationConfiguration item: the app's new managed configuration (empty: none)."""
    return build_command("Settings", Settings=[{"Item": "ApplicationConfiguration", "Identifier": identifier,
                                                "Configuration": dict(configuration or {})}])


def list_apps(identifiers: Iterable[str]) -> dict[str, Any]:
    return build_command("ManagedApplicationList", Identifiers=sorted(set(identifiers)))


def remove_app(identifier: str) -> dict[str, Any]:
    return build_command("RemoveApplication", Identifier=identifier)


def app_states(answer: Mapping[str, Any]) -> dict[str, str]:
    """``{bundle ID: Status}`` from a ManagedApplicationList answer (other shapes give nothing)."""
    listed = answer.get("ManagedApplicationList")
    if not isinstance(listed, Mapping):
        return {}
    return {bundle_id: str(entry.get("Status", "")) for bundle_id, entry in listed.items()
            if isinstance(bundle_id, str) and isinstance(entry, Mapping)}
