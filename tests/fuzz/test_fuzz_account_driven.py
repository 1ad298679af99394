"""Fuzzing the Account-Driven enrollment endpoint (the BaseURL) with malformed bodies, bare or in a CMS
SignedData, and hostile Authorization headers."""
from __future__ import annotations

from hypothesis import given, strategies as st

from mdm_core import cms
from mdm_core.account_driven import MAX_REQUEST_BYTES, request_body
from mdm_core.plist import loads
from portal.extensions import db
from portal.settings_store import update_enrollment_settings
from tests.fuzz.device_requests import Invariants
from tests.fuzz.harness import Cases, fuzz_settings
from tests.fuzz.strategies import AUTHORIZATIONS, SIGNER, bodies, mutated

BASE = loads(request_body("en-US", "iPhone17,2", "22B83"))


def test_account_driven_enrollment(app, client, no_rate_limits, tracebacks):
    with app.app_context():
        update_enrollment_settings({"account_driven_enabled": True, "managed_domains": ["example.org"]})
        db.session.commit()
    cases = Cases("POST /account-driven/enroll")
    invariants = Invariants(app, cases, tracebacks, None)

    @fuzz_settings()
    @given(body=bodies(mutated(BASE, ("LANGUAGE", "PRODUCT", "VERSION")), (MAX_REQUEST_BYTES,)),
           signed=st.sampled_from(["bare", "bare", "signed", "signed-then-truncated"]), cut=st.integers(0, 4000),
           authorization=AUTHORIZATIONS)
    def case(body, signed, cut, authorization):
        if signed != "bare":
            body = cms.sign(body, SIGNER)
            if signed == "signed-then-truncated":
                body = body[:cut % len(body)]
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.post("/account-driven/enroll", data=body, headers={"Content-Type": "application/pkcs7-signature",
                                                                             **headers})
        invariants.check(response, allowed=frozenset({400, 401, 413}))

    with cases:
        case()
