"""Status reports: only what User Enrollment may report is kept; declarations' states; subscriptions."""
from __future__ import annotations

import json

import pytest

from mdm_core.ddm import DdmError
from mdm_core.ddm.declarations import validate
from mdm_core.ddm.status import (
    INVENTORY_ITEMS,
    MAX_DECLARATION_STATUSES,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_STATUS_BYTES,
    SUBSCRIBED_ITEMS,
    inventory_facts,
    parse_status_report,
    subscriptions_declaration,
)
from mdm_core.ddm.status_lists import STATUS_LISTS


def report(items, errors=(), **extra):
    return json.dumps({"StatusItems": items, "Errors": list(errors), **extra}).encode()


FULL = {
    "device": {
        "identifier": {"serial-number": "F2LXK0AAAAAA", "udid": "00008030-0000000000000000"},
        "model": {"family": "iPhone", "identifier": "iPhone15,2", "marketing-name": "iPhone 14 Pro",
                  "number": "MQ9T3"},
        "operating-system": {"family": "iOS", "version": "17.5.1", "build-version": "21F90",
                             "supplemental": {"build-version": "21F90a"}},
        "power": {"battery-health": "normal"},
    },
    "passcode": {"is-compliant": True, "is-present": True},
    "management": {"declarations": {
        "activations": [{"identifier": "act", "server-token": "t1", "active": True, "valid": "valid"}],
        "configurations": [{"identifier": "mail", "server-token": "t2", "active": False, "valid": "invalid",
                            "reasons": [{"code": "Error.ConfigurationNotSupported", "description": "no",
                                         "details": {"Identifier": "mail"}}]}],
        "assets": [], "management": []}},
}


def test_serial_number_udid_and_battery_health_are_dropped_by_name_never_by_value():
    parsed = parse_status_report(report(FULL))
    assert "device.identifier.serial-number" not in parsed.items
    assert "device.identifier.udid" not in parsed.items
    assert parsed.dropped == ("device.identifier.serial-number", "device.identifier.udid",
                              "device.power.battery-health")
    assert parsed.dropped_count == 3
    assert "F2LXK0AAAAAA" not in repr(parsed)


def test_allowed_items_are_kept_by_dotted_name():
    items = parse_status_report(report(FULL)).items
    assert items["device.operating-system.version"] == "17.5.1"
    assert items["device.operating-system.supplemental.build-version"] == "21F90a"
    assert items["passcode.is-compliant"] is True


def test_unknown_and_wrongly_typed_items_are_dropped():
    parsed = parse_status_report(report({"device": {"operating-system": {"version": 17}}, "vendor": {"x": 1}}))
    assert parsed.items == {}
    assert parsed.dropped == ("device.operating-system.version", "vendor")


def test_declaration_states_and_reasons():
    [activation, mail] = parse_status_report(report(FULL)).declarations
    assert (activation.kind, activation.identifier, activation.active, activation.valid) == ("activation", "act", True,
                                                                                             "valid")
    assert (mail.kind, mail.server_token, mail.active, mail.valid) == ("configuration", "t2", False, "invalid")
    assert mail.reasons[0].code == "Error.ConfigurationNotSupported"
    assert mail.reasons[0].details == {"Identifier": "mail"}


def test_errors_and_full_report():
    parsed = parse_status_report(report({}, [{"StatusItem": "app.managed.list",
                                              "Reasons": [{"Code": "Error.Unknown"}]}], FullReport=True))
    assert parsed.full_report
    assert parsed.errors[0].status_item == "app.managed.list" and parsed.errors[0].reasons[0].code == "Error.Unknown"


def test_inventory_facts_map_status_items_to_device_fields():
    assert inventory_facts(parse_status_report(report(FULL))) == {
        "os_version": "17.5.1", "build_version": "21F90", "product_name": "iPhone15,2", "model": "MQ9T3",
        "model_name": "iPhone", "passcode_compliant": True,
        "passcode_present": True}


def test_inventory_facts_leave_out_what_does_not_fit_a_column():
    parsed = parse_status_report(report({"device": {"operating-system": {"version": "1" * 41}}}))
    assert inventory_facts(parsed) == {}


def test_inventory_facts_replace_what_no_column_can_store():
    parsed = parse_status_report(report({"device": {"operating-system": {"version": "17\x00"}}}))
    assert inventory_facts(parsed) == {"os_version": "17\ufffd"}


DECLARED = {"identifier": "mail", "server-token": "t", "active": True, "valid": "valid"}


@pytest.mark.parametrize(("data", "message"), [
    (b"", "needs Data"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[" * 100_000, "not valid JSON"),
    (b"[]", "StatusItems"),
    (b'{"StatusItems": []}', "StatusItems"),
    (b'{"StatusItems": {}, "FullReport": "yes"}', "FullReport"),
    (b'{"StatusItems": {}, "Errors": {}}', "Errors"),
    (b'{"StatusItems": {}, "Errors": [{"Reasons": []}]}', "StatusItem"),
    (report({"management": {"declarations": {"configurations": [{"identifier": "x"}]}}}), "declaration status"),
    (report({"management": {"declarations": {"configurations": {}}}}), "must be an array"),
    (b" " * (MAX_STATUS_BYTES + 1), "larger than"),
    (b'{"StatusItems": {}, "x": ' + b"9" * 5000 + b"}", "not valid JSON"),  # past int's 4,300 digits
    *((report({"management": {"declarations": {"configurations": [{**DECLARED, **wrong}]}}}), message)
      for wrong, message in [({"active": 1}, "declaration status"), ({"valid": ["valid"]}, "declaration status"),
                             ({"valid": {}}, "declaration status"), ({"reasons": {}}, "reasons must be an array"),
                             ({"reasons": None}, "reasons must be an array"), ({"reasons": ["x"]}, "code string"),
                             ({"reasons": [{"code": 1}]}, "code string")]),
    (report({"management": {"declarations": {"assets": [None]}}}), "declaration status"),
    (b'{"StatusItems": {}, "Errors": [{"StatusItem": "x", "Reasons": {}}]}', "reasons must be an array"),
])
def test_malformed_reports_are_ddm_errors(data, message):
    with pytest.raises(DdmError, match=message):
        parse_status_report(data)


@pytest.mark.parametrize("data", [
    json.dumps({"StatusItems": {"device": {"operating-system": {"version": "17.5"}}}}).encode(encoding)
    for encoding in ("utf-16", "utf-16-le", "utf-32")] + [
    b'{"StatusItems": {}, "StatusItems": {"device": {"operating-system": {"version": "17.5"}}}}',  # the last wins
    b'{"StatusItems": {"device": {"operating-system": {"version": "17.5", "x": NaN}}, "y": -Infinity}}',
])
def test_reports_in_utf_16_or_32_with_duplicate_keys_or_nan_are_read(data):
    assert inventory_facts(parse_status_report(data)) == {"os_version": "17.5"}


def test_subscriptions_are_exactly_what_the_server_keeps_and_never_forbidden_items():
    kept = {*INVENTORY_ITEMS, "management.declarations", *(item for kind in STATUS_LISTS for item in kind.items)}
    assert set(SUBSCRIBED_ITEMS) == kept
    for item in ("device.model.marketing-name", "device.operating-system.family", "mdm.app",
                 "device.operating-system.supplemental.build-version"):
        assert item not in SUBSCRIBED_ITEMS, "reported by User Enrollment, but nothing keeps it"
    for item in ("device.identifier.serial-number", "device.identifier.udid", "device.power.battery-health",
                 "test.string-value"):
        assert item not in SUBSCRIBED_ITEMS


def test_subscriptions_declaration_is_a_valid_user_enrollment_configuration():
    document = subscriptions_declaration("status-subscriptions")
    assert document["Type"] == "com.apple.configuration.management.status-subscriptions"
    assert validate(document["Type"], document["Payload"], user_enrollment=True,
                    identifier=document["Identifier"]) == []
    assert document == subscriptions_declaration("status-subscriptions")


def test_a_report_listing_more_declarations_than_kept_keeps_the_first_ones_and_the_rest_of_the_report():
    entry = {"identifier": "x", "server-token": "t", "active": True, "valid": "valid"}
    lists = {"assets": [entry] * 2, "configurations": [entry] * (MAX_DECLARATION_STATUSES - 1) + ["not even valid"]}
    parsed = parse_status_report(report({"management": {"declarations": lists},
                                         "device": {"operating-system": {"version": "17.5"}}}))
    assert len(parsed.declarations) == MAX_DECLARATION_STATUSES and parsed.statuses_dropped == 2
    assert [d.kind for d in parsed.declarations[:3]] == ["asset", "asset", "configuration"]
    assert parsed.items["device.operating-system.version"] == "17.5"
    lists["assets"] = []
    lists["configurations"][-1] = entry
    parsed = parse_status_report(report({"management": {"declarations": lists}}))
    assert (len(parsed.declarations), parsed.statuses_dropped) == (MAX_DECLARATION_STATUSES, 0)


def test_reason_texts_are_cut_and_oversized_or_non_json_details_dropped():
    big = {"identifier": "a", "server-token": "t", "active": False, "valid": "invalid",
           "reasons": [{"code": "E" * 10_000, "description": "d" * 100_000, "details": {"k": "v" * 100_000}},
                       {"code": "Error.Unknown", "details": {"k": 1}}]}
    text = report({"management": {"declarations": {"configurations": [big]}}}).replace(b'{"k": 1}', b'{"k": NaN}')
    [cut, nan] = parse_status_report(text).declarations[0].reasons
    assert (len(cut.code), len(cut.description), cut.details) == (MAX_NAME_LENGTH, MAX_DESCRIPTION_LENGTH, None)
    assert nan.details is None


def test_a_report_with_an_unpaired_surrogate_is_refused_and_a_pair_is_kept():
    statuses = {"configurations": [{"identifier": "mail", "server-token": "t", "active": False, "valid": "invalid",
                                    "reasons": [{"code": "Error.X", "description": "PLACEHOLDER"}]}]}
    text = report({"management": {"declarations": statuses}}).decode()
    with pytest.raises(DdmError, match="unpaired surrogate"):
        parse_status_report(text.replace("PLACEHOLDER", "\\ud800 alone").encode())
    with pytest.raises(DdmError, match="unpaired surrogate"):
        parse_status_report(text.replace("PLACEHOLDER", "\ud800 alone").encode("utf-16", "surrogatepass"))
    for spelled in ("\ud800 alone", "\ud83d\ude00 as two"):  # invalid UTF-8 that json.loads decodes (surrogatepass)
        with pytest.raises(DdmError, match="unpaired surrogate"):
            parse_status_report(text.replace("PLACEHOLDER", spelled).encode("utf-8", "surrogatepass"))
    paired = parse_status_report(text.replace("PLACEHOLDER", "\\ud83d\\ude00 ok").encode())
    assert paired.declarations[0].reasons[0].description == "\U0001F600 ok"
