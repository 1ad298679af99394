"""A simulated iPhone that enrolls and answers MDM commands exactly as Apple documents.

The protocol logic (messages, reports, answers) is plain methods over the device's state;
the HTTP layer is three thin methods (:meth:`SimulatedDevice.install_profile`,
:meth:`~SimulatedDevice.poll`, :meth:`~SimulatedDevice.checkout`) over an ``httpx.Client``.
"""
from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from mdm_core import cms, plist
from mdm_core.ca import Identity
from mdm_core.scep import client as scep_client
from mdm_core.simulator import answers
from mdm_core.simulator.apps import ManagedApp
from mdm_core.simulator.ddm import DdmClient, DdmProtocolError
from mdm_core.simulator.profile import EnrollmentSettings, ScepIdentity, read_enrollment_profile

CHECKIN_CONTENT_TYPE = "application/x-apple-aspen-mdm-checkin"
COMMAND_CONTENT_TYPE = "application/x-apple-aspen-mdm"
USER_AGENT = "MDM/1.0"
MAX_COMMANDS_PER_POLL = 1000

EnrollmentType = Literal["user", "device"]
ScepEnroll = Callable[..., x509.Certificate]
#: ``(managed_apple_id, adam_id) -> bool``: does the user hold a Volume Purchase license for the app?
LicenseCheck = Callable[[str, str], bool]


class SimulatorError(Exception):
    """The server answered something a real device would treat as a failure."""


@dataclass
class Behaviour:
    """How the device deviates from an ideal one.

    ``not_now_first``: answer NotNow to the first N commands received (whatever their type;
    real iOS never NotNows DeviceInformation or ProfileList, this is a test knob).
    ``hostile``: volunteer identifiers User Enrollment forbids (SerialNumber, IMEI, MEID in
    Authenticate, UnlockToken in TokenUpdate, UDID/SerialNumber/IMEI... in DeviceInformation).
    ``keep_enrollment``: answer Error to RemoveProfile of the enrollment profile.
    ``rejects_apps``: the user cancels every app install prompt (``UserRejected``).
    """

    not_now_first: int = 0
    hostile: bool = False
    keep_enrollment: bool = False
    rejects_apps: bool = False


@dataclass(frozen=True)
class CommandExchange:
    """One command received during a poll and the status the device reported for it."""

    command_uuid: str
    request_type: str
    status: str


@dataclass
class SimulatedDevice:
    """One iPhone: its hardware, its enrollment and what MDM installed on it."""

    enrollment_type: EnrollmentType = "user"
    os_version: str = "17.5.1"
    build_version: str = "21F90"
    product_name: str = "iPhone15,2"
    # DeviceInformation's Model and the device.model.number status item: one number, whichever channel reports it
    model_number: str = "MTLW3LL/A"
    behaviour: Behaviour = field(default_factory=Behaviour)
    bearer_token: str | None = None
    scep_enroll: ScepEnroll = scep_client.enroll
    udid: str = field(default_factory=lambda: f"00008030-{secrets.token_hex(8).upper()}")
    serial_number: str = field(default_factory=lambda: secrets.token_hex(6).upper())
    imei: str = field(default_factory=lambda: "35" + "".join(secrets.choice("0123456789") for _ in range(13)))
    enrollment_id: str | None = None
    push_token: bytes = field(default_factory=lambda: os.urandom(32))
    push_magic: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    identity: Identity | None = None
    #: The key to enroll with over SCEP; a fresh RSA-2048 key when None. Generating one costs
    #: about 0.1 s, so benchmarks of large fleets pass keys cached on disk.
    scep_key: rsa.RSAPrivateKey | None = None
    settings: EnrollmentSettings | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    managed_apps: dict[str, str] = field(default_factory=dict)
    personal_apps: dict[str, str] = field(
        default_factory=lambda: {"com.example.personal.game": "Game", "com.example.personal.chat": "Chat"}
    )
    #: Apps MDM installed or is installing, by bundle identifier (``managed_apps`` holds those installed).
    apps: dict[str, ManagedApp] = field(default_factory=dict)
    #: Asked before a user-enrolled phone installs an App Store app; None: every user holds every license.
    license_check: LicenseCheck | None = None
    #: Fetches an in-house app's manifest (``ManifestURL``); None: the bundle identifier comes from the URL.
    fetch_manifest: Callable[[str], bytes] | None = None
    #: The Managed Apple ID signed in for management, when the enrollment profile does not name it.
    apple_account: str | None = None
    commands_seen: int = 0
    #: Set when a RemoveProfile of the enrollment profile was acknowledged: the enrollment ends after the report.
    unenrolling: bool = False
    #: The declarative management client (its declarations, status and counters).
    ddm: DdmClient = field(default_factory=DdmClient)

    def __post_init__(self) -> None:
        if self.enrollment_type not in ("user", "device"):
            raise ValueError(f"enrollment_type must be 'user' or 'device', not {self.enrollment_type!r}")

    @property
    def identifier(self) -> str:
        """What the server knows this enrollment by: EnrollmentID (user) or UDID (device)."""
        return self.enrollment_id if self.enrollment_type == "user" else self.udid

    @property
    def enrollment_profile_identifier(self) -> str | None:
        return self.settings.profile.get("PayloadIdentifier") if self.settings else None

    @property
    def managed_apple_id(self) -> str | None:
        """The user's Managed Apple ID: as set, else the MDM payload's ``ManagedAppleID`` (Profile-Driven)
        or ``AssignedManagedAppleID`` (Account-Driven)."""
        if self.apple_account or self.settings is None:
            return self.apple_account
        for payload in self.settings.profile.get("PayloadContent", []):
            if isinstance(payload, dict) and payload.get("PayloadType") == "com.apple.mdm":
                apple_id = payload.get("ManagedAppleID", payload.get("AssignedManagedAppleID"))
                return apple_id if isinstance(apple_id, str) else None
        return None

    def facts(self) -> dict[str, Any]:
        """Every DeviceInformation value this device could report; the rules pick from it."""
        return {
            "DeviceName": "Simulated iPhone",
            "OSVersion": self.os_version,
            "BuildVersion": self.build_version,
            "ProductName": self.product_name,
            "Model": self.model_number,
            "ModelName": "iPhone",
            "ModelNumber": "MTLW3",
            "DeviceCapacity": 128.0,
            "AvailableDeviceCapacity": 61.5,
            "BatteryLevel": 0.82,
            "CellularTechnology": 3,
            "IsSupervised": False,
            "IsMultiUser": False,
            "IsDeviceLocatorServiceEnabled": True,
            "IsNetworkTethered": False,
            "DiagnosticSubmissionEnabled": False,
            "AppAnalyticsEnabled": False,
            "TimeZone": "Europe/Berlin",
            "EASDeviceIdentifier": self.udid[-12:],
            "UDID": self.udid,
            "SerialNumber": self.serial_number,
            "IMEI": self.imei,
            "MEID": self.imei[:14],
            "WiFiMAC": "f0:18:98:12:34:56",
            "BluetoothMAC": "f0:18:98:12:34:57",
            "PhoneNumber": "+49 151 00000000",
        }

    # Messages ----------------------------------------------------------------------------

    def _identifier_keys(self) -> dict[str, str]:
        if self.enrollment_type == "user":
            return {"EnrollmentID": self._require_enrollment_id()}
        return {"UDID": self.udid}

    def _require_enrollment_id(self) -> str:
        if self.enrollment_id is None:
            raise SimulatorError("the device is not enrolled")
        return self.enrollment_id

    def _topic(self) -> str:
        if self.settings is None:
            raise SimulatorError("the device has no enrollment profile")
        return self.settings.topic

    def authenticate_message(self) -> dict[str, Any]:
        message = {"MessageType": "Authenticate", "Topic": self._topic(), **self._identifier_keys(),
                   "OSVersion": self.os_version, "BuildVersion": self.build_version,
                   "ProductName": self.product_name}
        if self.enrollment_type == "device" or self.behaviour.hostile:
            message.update({"SerialNumber": self.serial_number, "IMEI": self.imei})
        return message

    def token_update_message(self) -> dict[str, Any]:
        message = {"MessageType": "TokenUpdate", "Topic": self._topic(), **self._identifier_keys(),
                   "Token": self.push_token, "PushMagic": self.push_magic, "AwaitingConfiguration": False}
        if self.enrollment_type == "device" or self.behaviour.hostile:
            message["UnlockToken"] = b"unlock-" + self.udid.encode()
        return message

    def checkout_message(self) -> dict[str, Any]:
        return {"MessageType": "CheckOut", "Topic": self._topic(), **self._identifier_keys()}

    def declarative_management_message(self, endpoint: str, data: bytes | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"MessageType": "DeclarativeManagement", "Endpoint": endpoint,
                                   **self._identifier_keys()}
        if data is not None:
            message["Data"] = data
        return message

    def idle_report(self) -> dict[str, Any]:
        return {"Status": "Idle", **self._identifier_keys()}

    def report_for(self, command_body: bytes) -> tuple[CommandExchange, dict[str, Any]]:
        """Run one command the server sent and build the report the device answers with."""
        try:
            envelope = plist.loads(command_body)
        except plist.PlistError as exc:
            raise SimulatorError(f"server sent an unreadable command: {exc}") from None
        command_uuid, command = envelope.get("CommandUUID"), envelope.get("Command")
        if not isinstance(command_uuid, str) or not isinstance(command, dict):
            raise SimulatorError("server sent a command without CommandUUID or Command")
        request_type = str(command.get("RequestType"))
        self.commands_seen += 1
        if self.commands_seen <= self.behaviour.not_now_first:
            status, extra = "NotNow", {}
        else:
            status, extra = answers.answer(self, request_type, command)
        report = {"Status": status, "CommandUUID": command_uuid, **self._identifier_keys(), **extra}
        return CommandExchange(command_uuid, request_type, status), report

    def headers(self, body: bytes, content_type: str | None) -> dict[str, str]:
        """The headers of an MDM request: content type (none for a GET), user agent, signature, bearer token."""
        headers = {"User-Agent": USER_AGENT, **({"Content-Type": content_type} if content_type else {})}
        if self.settings is not None and self.settings.sign_message:
            if self.identity is None:
                raise SimulatorError("the device has no identity to sign with")
            signature = cms.sign(body, self.identity, detached=True)
            headers["Mdm-Signature"] = base64.b64encode(signature).decode("ascii")
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        return headers

    # Enrollment --------------------------------------------------------------------------

    def accept_profile(self, profile_bytes: bytes) -> EnrollmentSettings:
        """Read the enrollment profile and start a fresh enrollment (new EnrollmentID)."""
        settings = read_enrollment_profile(profile_bytes)
        self.settings = settings
        self.enrollment_id = str(uuid.uuid4()).upper() if self.enrollment_type == "user" else None
        self.profiles = {settings.profile["PayloadIdentifier"]: settings.profile}
        self.unenrolling = False
        return settings

    def obtain_identity(self, http: httpx.Client) -> Identity:
        """Get the identity the MDM payload names: from the profile, or over SCEP."""
        wanted = self.settings.identity if self.settings else None
        if wanted is None:
            raise SimulatorError("the device has no enrollment profile")
        if isinstance(wanted, ScepIdentity):
            key = self.scep_key or rsa.generate_private_key(public_exponent=65537, key_size=max(wanted.key_size, 2048))
            try:
                certificate = self.scep_enroll(http, wanted.url, challenge=wanted.challenge or "", private_key=key,
                                               subject=wanted.subject)
            except (ValueError, httpx.HTTPError) as exc:
                raise SimulatorError(f"SCEP enrollment at {wanted.url} failed: {exc}") from None
            self.identity = Identity(certificate=certificate, private_key=key)
        else:
            self.identity = Identity(certificate=wanted.certificate, private_key=wanted.private_key)
        return self.identity

    # HTTP --------------------------------------------------------------------------------

    def install_profile(self, profile_bytes: bytes, http: httpx.Client) -> None:
        """Install the enrollment profile: identity, then Authenticate and TokenUpdate."""
        self.accept_profile(profile_bytes)
        self.obtain_identity(http)
        self.checkin(self.authenticate_message(), http)
        self.checkin(self.token_update_message(), http)

    def checkin(self, message: dict[str, Any], http: httpx.Client) -> httpx.Response:
        """PUT one check-in message to the CheckInURL."""
        body = plist.dumps(message)
        return self._put(self._settings().checkin_url, body, CHECKIN_CONTENT_TYPE, http)

    def fetch(self, url: str, http: httpx.Client, *, as_mdm_request: bool) -> httpx.Response | None:
        """GET a URL a declaration names (an asset's ``DataURL``) when this MDM server serves it, as an MDM request
        (its empty body signed, the bearer token) or a plain GET; None for another server's URL (not simulated)."""
        if httpx.URL(url).netloc != httpx.URL(self._settings().checkin_url).netloc:
            return None
        return http.get(url, headers=self.headers(b"", None) if as_mdm_request else {"User-Agent": USER_AGENT})

    def poll(self, http: httpx.Client) -> list[CommandExchange]:
        """Connect as after a push: Idle, then answer commands until the server has none.

        When the server removed the enrollment profile, the device acknowledges, then leaves
        management (CheckOut when the profile asks for it) and runs nothing more.
        """
        body = plist.dumps(self.idle_report())
        exchanges: list[CommandExchange] = []
        while True:
            response = self._put(self._settings().server_url, body, COMMAND_CONTENT_TYPE, http)
            if not response.content:
                if self.ddm.sync_pending:
                    self.sync_declarations(http)
                return exchanges
            if len(exchanges) >= MAX_COMMANDS_PER_POLL:
                raise SimulatorError(f"server sent more than {MAX_COMMANDS_PER_POLL} commands in one poll")
            exchange, report = self.report_for(response.content)
            exchanges.append(exchange)
            body = plist.dumps(report)
            if self.unenrolling:
                self._put(self._settings().server_url, body, COMMAND_CONTENT_TYPE, http)
                self.checkout(http)
                return exchanges

    def sync_declarations(self, http: httpx.Client) -> None:
        """Run the declarative management exchange (tokens, manifest, changed declarations, status)."""
        try:
            self.ddm.sync(self, http)
        except DdmProtocolError as exc:
            raise SimulatorError(str(exc)) from None

    def checkout(self, http: httpx.Client) -> None:
        """Remove the enrollment profile; CheckOut is sent when the profile asks for it."""
        settings = self._settings()
        if settings.checkout_when_removed:
            self.checkin(self.checkout_message(), http)
        self.settings, self.identity, self.enrollment_id = None, None, None
        self.profiles, self.managed_apps, self.apps = {}, {}, {}  # managed apps leave with the enrollment
        self.unenrolling = False
        self.ddm = DdmClient()

    def _settings(self) -> EnrollmentSettings:
        if self.settings is None:
            raise SimulatorError("the device has no enrollment profile")
        return self.settings

    def _put(self, url: str, body: bytes, content_type: str, http: httpx.Client) -> httpx.Response:
        try:
            response = http.put(url, content=body, headers=self.headers(body, content_type))
        except httpx.HTTPError as exc:
            raise SimulatorError(f"PUT {url} failed: {exc}") from None
        if response.status_code != 200:
            raise SimulatorError(f"PUT {url} answered {response.status_code}: {response.text[:200]}")
        return response
