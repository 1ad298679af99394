"""Fuzzing ``PUT /mdm/connect`` with correctly signed, malformed command reports: every status, for this
phone's commands (sent or still queued), another phone's and unknown ones, with inventory answers of
every shape."""
from __future__ import annotations

from hypothesis import given, strategies as st
from sqlalchemy import text

from mdm_core.commands import COMMAND_STATUSES
from portal.extensions import db
from tests.fuzz.device_requests import Invariants, device_id, keep_enrolled, signed_put
from tests.fuzz.harness import Cases, fuzz_settings
from tests.fuzz.strategies import AUTHORIZATIONS, HOSTILE_STRINGS, bodies, command_uuids, hostile_text, mutated, values

COMMAND_TYPE = "application/x-apple-aspen-mdm"
FACTS = ("OSVersion", "BuildVersion", "ProductName", "Model", "ModelName", "DeviceName", "BatteryLevel",
         "UDID", "SerialNumber", "IMEI", "EASDeviceIdentifier", "IsSupervised", "TimeZone")
REPORT_KEYS = ("Status", "CommandUUID", "EnrollmentID", "UDID", "ErrorChain", "QueryResponses", "SecurityInfo",
               "ProfileList", "CertificateList", "InstalledApplicationList", "ManagedApplicationList")
_TEXT, _VALUES = hostile_text(), values()
#: A few app and profile identifiers, so a ManagedApplicationList makes an app managed that a later
#: InstalledApplicationList reports (User Enrollment keeps only managed apps).
_IDENTIFIERS = st.sampled_from(["com.example.app", "com.example.other", "org.example.profile"]) | _TEXT
_ENTRIES = st.builds(lambda known, extra: {**extra, **known},
                     st.fixed_dictionaries({}, optional={"Identifier": _IDENTIFIERS, "PayloadIdentifier": _IDENTIFIERS,
                                                         "Status": st.sampled_from(["Managed", "UserInstalledApp"]) | _TEXT,
                                                         "IsManaged": st.booleans() | _VALUES,
                                                         "BundleSize": _VALUES, "PayloadVersion": _VALUES}),
                     st.dictionaries(st.sampled_from(("Name", "Version", "Data", "PayloadContent", "CommonName",
                                                      "IsIdentity")) | _TEXT, _VALUES, max_size=4))
#: An answer of the shape each inventory command's report carries.
ANSWER_BY_TYPE = {
    "DeviceInformation": st.builds(lambda facts: {"QueryResponses": facts},
                                   st.dictionaries(st.sampled_from(FACTS) | _TEXT, _VALUES, max_size=8)),
    "SecurityInfo": st.builds(lambda info: {"SecurityInfo": info}, st.dictionaries(_TEXT, _VALUES, max_size=5)),
    "ProfileList": st.builds(lambda entries: {"ProfileList": entries}, st.lists(_ENTRIES, max_size=5)),
    "CertificateList": st.builds(lambda entries: {"CertificateList": entries}, st.lists(_ENTRIES, max_size=5)),
    "InstalledApplicationList": st.builds(lambda entries: {"InstalledApplicationList": entries},
                                          st.lists(_ENTRIES, max_size=5)),
    "ManagedApplicationList": st.builds(lambda entries: {"ManagedApplicationList": entries},
                                        st.dictionaries(_IDENTIFIERS, _ENTRIES, max_size=5)),
}
ANSWERS = st.one_of(*ANSWER_BY_TYPE.values(), st.builds(lambda chain: {"ErrorChain": chain},
                                                         st.lists(_ENTRIES | _VALUES, max_size=3)), st.just({}))


def _commands(app, device: int) -> list[tuple[str, str]]:
    """The device's commands: ``(command_uuid, request_type)``."""
    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            text("SELECT command_uuid, request_type FROM commands WHERE device_id = :d ORDER BY id"), {"d": device})]


def _rearm(app, device: int, keep_queued: str) -> bool:
    """Put this phone's finished commands back to sent (one stays queued), so every case can report
    on a command the server is waiting for; True if any changed."""
    with app.app_context():
        changed = db.session.execute(text(
            "UPDATE commands SET status = 'sent', completed_at = NULL, result = NULL, error_chain = NULL "
            "WHERE device_id = :d AND status != 'sent' AND command_uuid != :q"), {"d": device, "q": keep_queued}).rowcount
        db.session.commit()
    return bool(changed)


def test_command_connection(app, client, enroll, no_rate_limits, tracebacks):
    phone = enroll(collect_inventory=False)
    bystander = enroll(managed_apple_id="bob@example.org", collect_inventory=False)
    own = device_id(app, phone)
    own_commands = _commands(app, own)
    other_commands = [uuid for uuid, _ in _commands(app, device_id(app, bystander))]
    queued = own_commands[-1][0]
    _rearm(app, own, keep_queued=queued)
    with app.app_context():
        db.session.execute(text("UPDATE commands SET status = 'queued' WHERE command_uuid = :q"), {"q": queued})
        db.session.commit()
    identifiers = st.sampled_from([{"EnrollmentID": phone.enrollment_id}] * 4 + [
        {"EnrollmentID": bystander.enrollment_id}, {"UDID": phone.udid}, {}])
    answered = st.sampled_from(own_commands).flatmap(
        lambda command: st.tuples(st.just(command[0]), ANSWER_BY_TYPE.get(command[1], ANSWERS)))
    anything = st.tuples(command_uuids([uuid for uuid, _ in own_commands], other_commands), ANSWERS)
    reports = st.builds(lambda status, reported, ids: {"Status": status, "CommandUUID": reported[0], **ids, **reported[1]},
                        st.sampled_from(sorted(COMMAND_STATUSES) * 2 + ["Acknowledged"] * 6 + list(HOSTILE_STRINGS[:4])),
                        st.one_of(answered, answered, anything), identifiers)
    cases = Cases("PUT /mdm/connect")
    invariants = Invariants(app, cases, tracebacks, own)

    @fuzz_settings()
    @given(body=bodies(reports.flatmap(lambda r: mutated(r, REPORT_KEYS)), (app.config["MAX_CONTENT_LENGTH"],)),
           authorization=AUTHORIZATIONS, content_type=st.sampled_from([COMMAND_TYPE] * 10 + [None, "text/plain"]))
    def case(body, authorization, content_type):
        invariants.check(signed_put(client, phone, "/mdm/connect", body, content_type, authorization))
        if keep_enrolled(app, own) | _rearm(app, own, keep_queued=queued):
            invariants.resnapshot()

    with cases:
        case()
