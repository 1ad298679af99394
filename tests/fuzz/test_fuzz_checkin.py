"""Fuzzing ``PUT /mdm/checkin`` with correctly signed, malformed bodies."""
from __future__ import annotations

from hypothesis import strategies as st

from mdm_core.checkin import _KEYS, UNSUPPORTED_MESSAGE_TYPES
from tests.fuzz.device_requests import fuzz_checkins
from tests.fuzz.strategies import hostile_text, mutated

KEYS = tuple(sorted({key for keys in _KEYS.values() for key in keys} | {"MessageType", "EnrollmentID", "UDID"}))


def test_checkin(app, client, enroll, no_rate_limits, tracebacks):
    phone, bystander = enroll(), enroll(managed_apple_id="bob@example.org")
    identifiers = st.sampled_from([{"EnrollmentID": phone.enrollment_id}] * 3 + [
        {"EnrollmentID": bystander.enrollment_id}, {"UDID": phone.udid},
        {"EnrollmentID": phone.enrollment_id, "UDID": phone.udid}, {}])
    messages = st.builds(lambda base, ids, kind: {**base, **ids, "MessageType": kind},
                         st.sampled_from([phone.authenticate_message(), phone.token_update_message(),
                                          phone.checkout_message()]),
                         identifiers,
                         st.sampled_from([*_KEYS] * 3 + sorted(UNSUPPORTED_MESSAGE_TYPES)) | hostile_text())
    fuzz_checkins(app, client, tracebacks, phone, "PUT /mdm/checkin", messages.flatmap(lambda m: mutated(m, KEYS)),
                  other_types=("text/plain",))
