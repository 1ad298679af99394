"""Fuzzing ``PUT /mdm/checkin`` with correctly signed, malformed bodies."""
from __future__ import annotations

from hypothesis import strategies as st

from mdm_core.checkin import _KEYS, UNSUPPORTED_MESSAGE_TYPES
from mdm_core.plist import MAX_PLIST_BYTES
from tests.fuzz.device_requests import fuzz_checkins
from tests.fuzz.strategies import bodies, hostile_text, mutated

CHECKIN_TYPE = "application/x-apple-aspen-mdm-checkin"
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
    limits = (MAX_PLIST_BYTES, app.config["MAX_CONTENT_LENGTH"])
    fuzz_checkins(app, client, tracebacks, phone, "PUT /mdm/checkin",
                  bodies(messages.flatmap(lambda m: mutated(m, KEYS)), limits), [CHECKIN_TYPE] * 10 + [None, "text/plain"])
