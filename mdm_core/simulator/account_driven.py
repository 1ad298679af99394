"""Account-Driven User Enrollment as an iPhone performs it, step by step over HTTP.

discovery -> signed POST to the BaseURL -> ``401`` challenge -> web sign-in (pluggable: the
phone's web sheet is the caller's ``web_sign_in(url) -> callback URL``) -> token from the
``apple-remotemanagement-user-login://`` callback -> POST again with ``Authorization: Bearer``
-> install the profile, after checking it as the phone does (``EnrollmentMode`` BYOD, the
account's ``AssignedManagedAppleID``, no ``AccessRights``). The token then rides on every
MDM request (``SimulatedDevice.bearer_token``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from mdm_core import account_driven as protocol
from mdm_core import cms
from mdm_core.ca import Identity, create_ca
from mdm_core.simulator.device import SimulatedDevice, SimulatorError
from mdm_core.simulator.profile import ProfileError, read_enrollment_profile

REQUEST_CONTENT_TYPE = "application/pkcs7-signature"
ENROLLMENT_USER_AGENT = "DeviceManagementClient/1.0"
PROFILE_CONTENT_TYPE = "application/x-apple-aspen-config"

WebSignIn = Callable[[str], str]


@dataclass(frozen=True)
class AccountDrivenEnrollment:
    """What the exchange produced, for tests that check each step."""

    base_url: str
    challenge: protocol.Challenge
    sign_in_url: str
    access_token: str


def built_in_identity(device: SimulatedDevice) -> Identity:
    """A stand-in for the phone's built-in identity that signs the enrollment request (self-signed)."""
    return create_ca(f"Simulated device {device.udid}", "Simulated Apple device")


def discovery_url(managed_apple_id: str, model_family: str = "iPhone", *, host: str | None = None) -> str:
    """Where the phone looks: ``https://<domain of the account>/.well-known/...``.

    ``host`` (for example ``http://127.0.0.1:8000``) stands in for the domain's DNS in tests and demos.
    """
    _, domain = protocol.split_user_identifier(managed_apple_id)
    origin = host.rstrip("/") if host else f"https://{domain}"
    return (f"{origin}{protocol.DISCOVERY_PATH}?user-identifier={quote(managed_apple_id, safe='@')}"
            f"&model-family={quote(model_family)}")


def discover(http: httpx.Client, url: str) -> str:
    """GET the well-known resource (following redirects) and return the BaseURL it names."""
    try:
        response = http.get(url, follow_redirects=True, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise SimulatorError(f"discovery at {url} failed: {exc}") from None
    if response.status_code != 200:
        raise SimulatorError(f"discovery answered {response.status_code}: {response.text[:200]}")
    try:
        return protocol.base_url_from_discovery(response.json())
    except (ValueError, protocol.AccountDrivenError) as exc:
        raise SimulatorError(f"discovery answered an unusable document: {exc}") from None


def enroll_account_driven(device: SimulatedDevice, http: httpx.Client, managed_apple_id: str,
                          web_sign_in: WebSignIn, *, discovery_host: str | None = None,
                          language: str = "en-US", identity: Identity | None = None) -> AccountDrivenEnrollment:
    """Enroll ``device`` (a User Enrollment) the way Settings › Sign In to Work Account does."""
    if device.enrollment_type != "user":
        raise SimulatorError("account-driven enrollment yields a User Enrollment")
    base_url = discover(http, discovery_url(managed_apple_id, _model_family(device), host=discovery_host))
    identity = identity or built_in_identity(device)
    body = cms.sign(protocol.request_body(language, device.product_name, device.build_version), identity)

    first = _post(http, base_url, body, None)
    if first.status_code != 401:
        raise SimulatorError(f"the enrollment POST without a token answered {first.status_code}, not 401: "
                             f"{first.text[:200]}")
    try:
        challenge = protocol.parse_challenge(first.headers.get("WWW-Authenticate"))
    except protocol.AccountDrivenError as exc:
        raise SimulatorError(f"the device cancels: {exc}") from None

    sign_in_url = protocol.web_sign_in_url(challenge.url, managed_apple_id)
    try:
        access_token = protocol.access_token_from_callback(web_sign_in(sign_in_url))
    except protocol.AccountDrivenError as exc:
        raise SimulatorError(f"web sign-in did not end at the callback: {exc}") from None

    second = _post(http, base_url, body, access_token)
    if second.status_code != 200:
        raise SimulatorError(f"the enrollment POST with the token answered {second.status_code}: {second.text[:200]}")
    if (second.headers.get("Content-Type") or "").split(";")[0].strip() != PROFILE_CONTENT_TYPE:
        raise SimulatorError(f"the profile came as {second.headers.get('Content-Type')!r}")
    check_account_driven_profile(second.content, managed_apple_id)
    device.bearer_token = access_token
    device.install_profile(second.content, http)
    return AccountDrivenEnrollment(base_url, challenge, sign_in_url, access_token)


def check_account_driven_profile(profile_bytes: bytes, managed_apple_id: str) -> None:
    """Refuse the profile as the phone would if its MDM payload is not a BYOD enrollment of this account."""
    try:
        mdm = read_enrollment_profile(profile_bytes).profile
    except ProfileError as exc:
        raise SimulatorError(f"the device cancels: {exc}") from None
    payload = next(p for p in mdm["PayloadContent"] if p.get("PayloadType") == "com.apple.mdm")
    if payload.get("EnrollmentMode") != "BYOD":
        raise SimulatorError(f"the device cancels: EnrollmentMode is {payload.get('EnrollmentMode')!r}, not 'BYOD'")
    assigned = payload.get("AssignedManagedAppleID")
    if not isinstance(assigned, str) or assigned.lower() != managed_apple_id.lower():
        raise SimulatorError(f"the device cancels: AssignedManagedAppleID {assigned!r} is not {managed_apple_id!r}")
    if "AccessRights" in payload:
        raise SimulatorError("the device cancels: AccessRights is present in a BYOD enrollment")


def _model_family(device: SimulatedDevice) -> str:
    return "iPad" if device.product_name.startswith("iPad") else "iPhone"


def _post(http: httpx.Client, url: str, body: bytes, access_token: str | None) -> httpx.Response:
    headers = {"Content-Type": REQUEST_CONTENT_TYPE, "User-Agent": ENROLLMENT_USER_AGENT, "Accept": "*/*"}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    try:
        return http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SimulatorError(f"POST {url} failed: {exc}") from None
