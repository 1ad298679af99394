"""Fuzzing ``PUT /mdm/checkin`` with correctly signed, malformed bodies."""
from __future__ import annotations

from hypothesis import given, strategies as st

from mdm_core.checkin import _KEYS, UNSUPPORTED_MESSAGE_TYPES
from mdm_core.plist import MAX_PLIST_BYTES
from tests.fuzz.device_requests import Invariants, device_id, keep_enrolled, signed_put
from tests.fuzz.harness import Cases, fuzz_settings
from tests.fuzz.strategies import AUTHORIZATIONS, bodies, hostile_text, mutated

CHECKIN_TYPE = "application/x-apple-aspen-mdm-checkin"
KEYS = tuple(sorted({key for keys in _KEYS.values() for key in keys} | {"MessageType", "EnrollmentID", "UDID"}))


def test_checkin(app, client, enroll, no_rate_limits, tracebacks):
    phone, bystander = enroll(), enroll(managed_apple_id="bob@example.org")
    own = device_id(app, phone)
    identifiers = st.sampled_from([{"EnrollmentID": phone.enrollment_id}] * 3 + [
        {"EnrollmentID": bystander.enrollment_id}, {"UDID": phone.udid},
        {"EnrollmentID": phone.enrollment_id, "UDID": phone.udid}, {}])
    messages = st.builds(lambda base, ids, kind: {**base, **ids, "MessageType": kind},
                         st.sampled_from([phone.authenticate_message(), phone.token_update_message(),
                                          phone.checkout_message()]),
                         identifiers,
                         st.sampled_from([*_KEYS] * 3 + sorted(UNSUPPORTED_MESSAGE_TYPES)) | hostile_text())
    cases = Cases("PUT /mdm/checkin")
    invariants = Invariants(app, cases, tracebacks, own)

    @fuzz_settings()
    @given(body=bodies(messages.flatmap(lambda m: mutated(m, KEYS)), (MAX_PLIST_BYTES, app.config["MAX_CONTENT_LENGTH"])),
           authorization=AUTHORIZATIONS, content_type=st.sampled_from([CHECKIN_TYPE] * 10 + [None, "text/plain"]))
    def case(body, authorization, content_type):
        invariants.check(signed_put(client, phone, "/mdm/checkin", body, content_type, authorization))
        if keep_enrolled(app, own):
            invariants.resnapshot()

    with cases:
        case()
