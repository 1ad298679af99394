"""Fuzzing the ``DeclarativeManagement`` check-in with correctly signed, malformed messages: every endpoint
(the phone's own declarations, the bystander's, hostile paths) and status reports made from the phone's
real full report (with a managed app, a certificate and an account listed) with values replaced, keys dropped or added,
surrogates, NaN and deep nesting, in UTF-8 or not, truncated or with bytes flipped. A refusal is a 4xx that
writes nothing; an accepted report writes only the phone's own rows (its DDM row, declaration statuses and
inventory are watched with the rest). The URLs a declaration names are fetched with hostile identifiers, keys
and signatures."""
from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, strategies as st

from mdm_core import cms
from tests.fuzz.device_requests import Invariants, device_id, fuzz_checkins
from tests.helpers import self_signed
from tests.fuzz.harness import Cases, fuzz_settings
from tests.fuzz.strategies import AUTHORIZATIONS, SIGNER, hostile_text, mutated, nested

KEYS = ("MessageType", "EnrollmentID", "Endpoint", "Data", "UDID")
#: Text inside a report's JSON may hold lone surrogates (an escape, or raw bytes); a plist's strings cannot.
_TEXT, _PLIST_TEXT = hostile_text(surrogates=True), hostile_text()
#: What replaces a value in a report: JSON of every kind (strings with lone surrogates and NUL, integers past
#: 64 bits, NaN and the infinities), a container nested past the readers' depth limits, or a long list.
_JSON_VALUES = st.one_of(
    st.recursive(st.one_of(_TEXT, st.integers(-(2 ** 70), 2 ** 70), st.floats(), st.booleans(), st.none()),
                 lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
                 max_leaves=12),
    st.integers(20, 200).map(nested),
    st.integers(0, 1200).map(lambda n: [{"identifier": "x"} for _ in range(n)]))  # unshared: a change stays one
_CHANGES = st.sampled_from(("replace", "replace", "replace", "drop", "add"))


def _paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into ``document`` (keys of objects, indexes of arrays), the root's children first."""
    found = []
    children = document.items() if isinstance(document, dict) else enumerate(document) \
        if isinstance(document, list) else ()
    for key, child in children:
        found.append((*prefix, key))
        found += _paths(child, (*prefix, key))
    return found


@st.composite
def reports(draw, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (a full report) with up to five of its values replaced, dropped or joined by another."""
    document = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 5))):
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        change = draw(_CHANGES)
        if change == "replace":
            parent[path[-1]] = draw(_JSON_VALUES)
        elif change == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(_TEXT)] = draw(_JSON_VALUES)
        else:
            parent.append(draw(_JSON_VALUES))
    return document


def _with_lists(report: dict[str, Any]) -> dict[str, Any]:
    """The phone's report with a managed app, a certificate and a mail account listed, as the inventory keeps them."""
    document = json.loads(json.dumps(report))
    der = self_signed("Work VPN")[0].public_bytes(Encoding.DER)
    items = document["StatusItems"]
    items.setdefault("app", {}).setdefault("managed", {})["list"] = [
        {"identifier": "com.example.expenses", "declaration-identifier": "expenses", "name": "Expenses",
         "version": "412", "short-version": "4.1.2", "state": "managed"}]
    items.setdefault("security", {}).setdefault("certificate", {})["list"] = [
        {"identifier": "vpn.cert", "subject-summary": "Work VPN", "is-identity": True,
         "data": base64.b64encode(der).decode()}]
    items.setdefault("account", {}).setdefault("list", {}).setdefault("mail", {})["incoming"] = [
        {"identifier": "m1", "declaration-identifier": "work.mail", "visible-name": "Work mail",
         "hostname": "imap.example.org", "port": 993, "username": "alice@example.org"}]
    return document


def _encoded(document: dict[str, Any], form: str, cut: int) -> bytes:
    if form == "utf-16":
        return json.dumps(document).encode("utf-16", "surrogatepass")
    text = json.dumps(document, ensure_ascii=form == "ascii")
    data = text.encode("utf-8", "surrogatepass")  # raw lone surrogates, which UTF-8 forbids
    return data[:cut] if form == "truncated" else data


_FORMS = st.sampled_from(("ascii", "ascii", "utf-8", "utf-8", "utf-16", "truncated"))


def test_declarative_management(app, client, enroll, no_rate_limits, tracebacks):
    phone, bystander = enroll(), enroll(managed_apple_id="bob@example.org")
    assert phone.ddm.reports, "a user-enrolled phone is managed declaratively and reports at once"
    full = _with_lists(phone.ddm.reports[0])
    declared = [f"declaration/{kind}/{entry['identifier']}"
                for kind, name in (("activation", "activations"), ("asset", "assets"),
                                   ("configuration", "configurations"), ("management", "management"))
                for entry in full["StatusItems"]["management"]["declarations"][name]]
    endpoints = st.one_of(
        st.sampled_from(["status", "tokens", "declaration-items"] * 2 + declared),
        st.builds(lambda kind, name: f"declaration/{kind}/{name}",
                  st.sampled_from(["activation", "asset", "configuration", "management", "", "x"]), _PLIST_TEXT),
        st.sampled_from(["", "/", "status/", "declaration", "declaration/", "declaration//", "declaration/a/b/c",
                         "../tokens", "TOKENS", "declaration-items?x=1", "%2e%2e/tokens"]),
        _PLIST_TEXT)
    identifiers = st.sampled_from([phone.identifier] * 6 + [bystander.identifier, "unknown"])

    def message(endpoint: str, data: bytes | None, identifier: str) -> dict[str, Any]:
        return {"MessageType": "DeclarativeManagement", "EnrollmentID": identifier, "Endpoint": endpoint,
                **({"Data": data} if data is not None else {})}

    # most cases are the phone's own status reports, which reach the report's reader and the statement
    reported = st.builds(_encoded, reports(full), _FORMS, st.integers(0, 4000))
    reports_sent = st.builds(message, st.just("status"), reported, st.just(phone.identifier))
    datas = st.one_of(reported, st.binary(max_size=64), st.none())
    messages = st.one_of(reports_sent, reports_sent, reports_sent, st.builds(message, endpoints, datas, identifiers))
    fuzz_checkins(app, client, tracebacks, phone, "PUT /mdm/checkin (DeclarativeManagement)",
                  st.one_of(messages, messages, messages.flatmap(lambda m: mutated(m, KEYS))))


def test_served_urls(app, client, enroll, no_rate_limits, tracebacks):
    """The URLs a declaration names (a legacy profile, a data or certificate asset, a credential), fetched with
    hostile identifiers and query strings, signed by the phone, by a stranger or not at all: never a 5xx, and a
    GET writes nothing."""
    phone = enroll()
    own = device_id(app, phone)
    signed = base64.b64encode(cms.sign(b"", phone.identity, detached=True)).decode()
    stranger = base64.b64encode(cms.sign(b"", SIGNER, detached=True)).decode()
    paths = st.builds(lambda kind, name: f"/mdm/ddm/{kind}/{quote(name.encode('utf-8', 'surrogatepass'), safe='')}",
                      st.sampled_from(["legacy", "assets", "credentials"]), _TEXT)
    queries = st.fixed_dictionaries({}, optional={"device": st.sampled_from([str(own), "0", "-1", "1" * 40]) | _TEXT,
                                                  "key": st.sampled_from(["", "00" * 32]) | _TEXT})
    cases = Cases("GET /mdm/ddm/*")
    invariants = Invariants(app, cases, tracebacks, None)

    @fuzz_settings()
    @given(path=paths, query=queries, signature=st.sampled_from([signed, signed, stranger, None, "AAAA", "%%%"]),
           authorization=AUTHORIZATIONS)
    def case(path, query, signature, authorization):
        headers = {name: value for name, value in (("Mdm-Signature", signature), ("Authorization", authorization))
                   if value is not None}
        query = {name: value.encode("utf-8", "surrogatepass") for name, value in query.items()}
        invariants.check(client.get(path, query_string=query, headers=headers))

    with cases:
        case()
