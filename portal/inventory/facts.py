"""The device facts mirrored on the device row, and the changes of them told between inventory answers.

A DeviceInformation answer's changes are counted from the stored answer (``records.plan_answer``). A DDM status
report and an Authenticate tell some of the same facts between answers: each records the changes it makes
(``mirrored_changes``, ``history.record_fact_changes``), and the next answer counts its changes of those from the
device row where the history holds that record (``told_since``, ``history.recorded``), so an OS update a status
report told is recorded once, when told, and one whose record is missing is recorded by the answer, as before.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdm_core.results import Inventory

#: DeviceInformation answers mirrored on the device row (searchable, listed), with column lengths.
DEVICE_COLUMNS = {"OSVersion": ("os_version", 40), "BuildVersion": ("build_version", 40),
                  "ProductName": ("product_name", 80), "Model": ("model", 80), "ModelName": ("model_name", 120),
                  "DeviceName": ("device_name", 255)}
#: The device columns a DDM status report writes too (``mdm_core.ddm.status.inventory_facts``, bounded to the
#: column): these hold the newer of the two channels' values.
STATUS_DEVICE_COLUMNS = ("os_version", "build_version", "product_name", "model", "model_name")
#: The DeviceInformation facts a status report also writes to the device row, by their column.
STATUS_FACTS = {key: column for key, (column, _) in DEVICE_COLUMNS.items() if column in STATUS_DEVICE_COLUMNS}
#: The mirrored device columns whose changes every message that tells them records when it does (a DDM status
#: report, an Authenticate; ``mirrored_changes``), with their DeviceInformation keys. Not ``model``: a status
#: report's ``device.model.number`` and DeviceInformation's ``Model`` may be two forms of one model (with the
#: region and without), so answers alone record its changes, compared with answers, not a change each day.
TOLD_FACTS = {column: key for key, (column, _) in DEVICE_COLUMNS.items() if column != "model"}
#: The device columns a status report writes whose changes it records.
TOLD_STATUS_COLUMNS = tuple(column for column in STATUS_DEVICE_COLUMNS if column in TOLD_FACTS)


def mirrored_changes(stored: Mapping[str, str | None], told: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """The changes (DeviceInformation key, old, new) an Authenticate or a status report (``told``, by column; None
    or absent: not told) makes to the device's mirrored columns ``stored`` (None: never told, which records nothing,
    as a first answer does)."""
    return [(TOLD_FACTS[column], old, told[column]) for column, old in stored.items()
            if column in TOLD_FACTS and old is not None and told.get(column) is not None and told[column] != old]


def told_since(inventory: Inventory, previous: Mapping[str, Any], mirrored: tuple[str | None, ...]) -> dict:
    """The row's values (``mirrored``, in ``DEVICE_COLUMNS`` order) of the told facts an answer settles (it carries
    them or was asked for them) that differ from the stored answer (``previous``): another message changed them
    since, and may have recorded the change (``history.recorded`` says which did)."""
    told = {}
    for (key, (column, length)), current in zip(DEVICE_COLUMNS.items(), mirrored):
        before = previous.get(key)
        if column in TOLD_FACTS and current is not None and current != (
                before[:length] if isinstance(before, str) else before) and (
                key in inventory.facts or inventory.queries is None or key in inventory.queries):
            told[key] = current
    return told
