"""What Apple's declaration schemas say in words rather than in keys, checked like the keys.

``check_keys`` reads types, presence and allowed values from the tables; these rules are the ones
Apple writes in a key's description: a managed app names exactly one source, a status
subscription names status items that exist (and, for a user-enrolled phone, ones it reports), an
activation's predicate is one a phone can parse.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mdm_core.capabilities import Problem
from mdm_core.ddm import ACTIVATION_TYPE, MANAGED_APP_TYPE, SUBSCRIPTIONS_TYPE, predicate
from mdm_core.ddm.tables import status_item_spec

#: ``app.managed.yaml``: "One and only one of 'AppStoreID', 'BundleID', or 'ManifestURL' must be present."
APP_SOURCES = ("AppStoreID", "BundleID", "ManifestURL")


def _one_app_source(payload: Mapping[str, Any], user_enrollment: bool) -> list[Problem]:
    given = [key for key in APP_SOURCES if key in payload]
    if len(given) == 1:
        return []
    named = ", ".join(given) if given else "none"
    return [Problem("error", "/".join(APP_SOURCES), f"a managed app needs exactly one of {', '.join(APP_SOURCES)} "
                    f"(given: {named})", MANAGED_APP_TYPE)]


def _subscribed_items(payload: Mapping[str, Any], user_enrollment: bool) -> list[Problem]:
    problems = []
    items = payload.get("StatusItems")
    for index, entry in enumerate(items if isinstance(items, list) else ()):
        name = entry.get("Name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str):
            continue  # check_keys has named it
        where = f"StatusItems[{index}].Name"
        spec = status_item_spec(name)
        if spec is None:
            problems.append(Problem("error", where, f"{where}: {name!r} is not a status item", SUBSCRIPTIONS_TYPE))
        elif not spec.ios_supported:
            problems.append(Problem("warning", where, f"{where}: {name} is not reported on iOS", SUBSCRIPTIONS_TYPE))
        elif user_enrollment and not spec.user_enrollment:
            problems.append(Problem("error", where, f"{where}: {name} is not reported under User Enrollment "
                                    "(it would identify the phone or its owner's use of it)", SUBSCRIPTIONS_TYPE,
                                    forbids_user_enrollment=True))
    return problems


def _readable_predicate(payload: Mapping[str, Any], user_enrollment: bool) -> list[Problem]:
    text = payload.get("Predicate")
    if not isinstance(text, str):
        return []  # absent (always active), or check_keys has named its type
    try:
        tree = predicate.parse(text)
    except predicate.PredicateError as exc:
        return [Problem("error", "Predicate", f"Predicate cannot be read by a phone: {exc}", ACTIVATION_TYPE)]
    problems = []
    for source, name in predicate.sources(tree):
        spec = status_item_spec(name) if source == "status" else None
        if source == "status" and (spec is None or not spec.ios_supported):
            problems.append(Problem("warning", "Predicate", f"Predicate reads @status({name}), which an iPhone "
                                    "does not report: it compares nothing", ACTIVATION_TYPE))
        elif source == "status" and user_enrollment and not spec.user_enrollment:
            problems.append(Problem("warning", "Predicate", f"Predicate reads @status({name}), which a "
                                    "user-enrolled iPhone does not report: it compares nothing", ACTIVATION_TYPE))
    return problems


RULES: Mapping[str, Callable[[Mapping[str, Any], bool], list[Problem]]] = {
    MANAGED_APP_TYPE: _one_app_source, SUBSCRIPTIONS_TYPE: _subscribed_items, ACTIVATION_TYPE: _readable_predicate}


def check_rules(type: str, payload: Mapping[str, Any], *, user_enrollment: bool) -> list[Problem]:
    """The problems of the rules Apple states for ``type`` in words (none for most types)."""
    rule = RULES.get(type)
    return rule(payload, user_enrollment) if rule is not None else []
