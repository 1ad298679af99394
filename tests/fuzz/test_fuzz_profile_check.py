"""Fuzzing the profile checker: ``POST /api/v1/profiles/check`` with malformed ``.mobileconfig`` bytes
(bare or CMS-signed, XML or binary), and ``mdm_core``'s decoders and checkers directly, where a
profile may also hold lone surrogates (a Python string can; neither plist form can)."""
from __future__ import annotations

import json
import uuid

from hypothesis import given, strategies as st

from mdm_core import cms, mobileconfig
from mdm_core.capabilities import payload_spec
from mdm_core.plist import MAX_PLIST_BYTES
from mdm_core.profile_check import ProfileCheckError, check_command_profile, check_profile, decode_profile
from tests.fuzz.device_requests import Invariants
from tests.fuzz.harness import Cases, fuzz_settings
from tests.fuzz.strategies import SIGNER, bodies, hostile_text, mutated

PAYLOAD_TYPES = ("com.apple.wifi.managed", "com.apple.vpn.managed", "com.apple.vpn.managed.applayer",
                 "com.apple.applicationaccess", "com.apple.security.pkcs1", "com.apple.mail.managed",
                 "com.apple.webClip.managed", "com.apple.mobiledevice.passwordpolicy", "com.example.unknown")
TOP_KEYS = ("PayloadType", "PayloadVersion", "PayloadIdentifier", "PayloadUUID", "PayloadDisplayName",
            "PayloadContent", "PayloadRemovalDisallowed", "IsEncrypted", "EncryptedPayloadContent", "PayloadScope")


def _payload(payload_type: str, index: int) -> dict:
    return {"PayloadType": payload_type, "PayloadVersion": 1, "PayloadIdentifier": f"org.example.fuzz.{index}",
            "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{payload_type}{index}")).upper(),
            "PayloadDisplayName": "$MANAGED_APPLE_ID's payload"}


def _keys(payload_type: str) -> tuple[str, ...]:
    spec = payload_spec(payload_type)
    return tuple(sorted(spec.keys)) if spec else ("PayloadType",)


def profiles(*, surrogates: bool = False) -> st.SearchStrategy[dict]:
    payload = st.builds(lambda t, i: (t, _payload(t, i)), st.sampled_from(PAYLOAD_TYPES) | hostile_text(),
                        st.integers(0, 3)).flatmap(lambda pair: mutated(pair[1], _keys(pair[0]), surrogates=surrogates))
    base = st.builds(lambda content: {"PayloadType": "Configuration", "PayloadVersion": 1,
                                      "PayloadIdentifier": "org.example.fuzz", "PayloadDisplayName": "Fuzz",
                                      "PayloadUUID": "6C3B1A84-8F6B-4E4E-9A55-3C9B0C1C2D11", "PayloadContent": content},
                     st.lists(payload, max_size=4))
    return base.flatmap(lambda profile: mutated(profile, TOP_KEYS, surrogates=surrogates))


def uploads(limits: tuple[int, ...]) -> st.SearchStrategy[bytes]:
    """Profile bytes: bare or CMS-signed (whole or cut), every malformed form of ``bodies``."""
    return st.builds(_wrapped, bodies(profiles(), limits), st.sampled_from(("bare", "bare", "signed", "cut")),
                     st.integers(0, 10 ** 6))


def _wrapped(body: bytes, wrapping: str, cut: int) -> bytes:
    if wrapping == "bare" or len(body) > MAX_PLIST_BYTES:
        return body
    signed = cms.sign(body, SIGNER)
    return signed if wrapping == "signed" else signed[:cut % len(signed)]


def test_profile_check_api(app, client, api_token, tracebacks):
    headers = {"Authorization": f"Bearer {api_token(scopes=('read',))}"}
    cases = Cases("POST /api/v1/profiles/check")
    invariants = Invariants(app, cases, tracebacks, None)

    @fuzz_settings()
    @given(body=uploads((MAX_PLIST_BYTES, app.config["MAX_CONTENT_LENGTH"])),
           enrollment_type=st.sampled_from(["user", "user", "device", "Device", "\u202euser"]))
    def case(body, enrollment_type):
        response = client.post("/api/v1/profiles/check", query_string={"enrollment_type": enrollment_type},
                               data=body, headers=headers)
        invariants.check(response, allowed=frozenset({200, 400, 413}))
        answer = response.get_json()
        if response.status_code == 200:
            assert isinstance(answer["valid"], bool) and answer["user_enrollment"] in ("allowed", "forbidden")
            assert all(p["severity"] in ("error", "warning") for p in answer["problems"])
        else:
            assert answer["error"] and answer["detail"]

    with cases:
        case()


def test_profile_checker_library():
    """``mobileconfig.decode``/``check`` and ``profile_check`` directly: only their own errors escape,
    and every report can be written as JSON."""
    cases = Cases("mdm_core profile checker")

    @fuzz_settings()
    @given(upload=uploads((MAX_PLIST_BYTES,)), profile=profiles(surrogates=True),
           enrollment_type=st.sampled_from(["user", "device"]))
    def case(upload, profile, enrollment_type):
        try:
            decoded = mobileconfig.decode(upload)
            json.dumps(mobileconfig.check(decoded, enrollment_type).to_dict())
            outcome = "decoded"
        except mobileconfig.MobileconfigError as exc:
            outcome = type(exc).__name__
        try:
            json.dumps(check_profile(decode_profile(upload)[0], enrollment_type).to_dict())
        except ProfileCheckError:
            pass
        check_command_profile(enrollment_type, {"RequestType": "InstallProfile", "Payload": upload})
        json.dumps(mobileconfig.check(mobileconfig.DecodedProfile(profile, "xml"), enrollment_type).to_dict())
        json.dumps(check_profile(profile, enrollment_type).to_dict())
        cases.count(outcome)

    with cases:
        case()
