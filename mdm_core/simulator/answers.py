"""How the simulated iPhone answers each MDM command: one handler per RequestType.

Each handler returns the command-specific keys of an ``Acknowledged`` report, or raises
:class:`CommandRefused` with the ErrorChain a real device would send. What a user-enrolled
device reveals follows the User Enrollment rules (managed apps and certificates only, no
hardware identifiers), except in hostile mode, which volunteers forbidden identifiers so
tests can prove the server drops them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

from mdm_core import cms, plist
from mdm_core.capabilities import allowed_device_information_queries, command_refusal
from mdm_core.profile_check import check_profile
from mdm_core.simulator import apps
from mdm_core.simulator.errors import CommandRefused
from mdm_core.simulator.ddm import DdmProtocolError

if TYPE_CHECKING:
    from mdm_core.simulator.device import SimulatedDevice

HARDWARE_IDENTIFIER_KEYS = ("UDID", "SerialNumber", "IMEI", "MEID", "WiFiMAC", "BluetoothMAC", "PhoneNumber")
# Passcode details SecurityInfo omits under User Enrollment (information.security.yaml).
_USER_ENROLLMENT_HIDDEN_SECURITY_KEYS = frozenset(
    {"PasscodePresent", "PasscodeCompliantWithProfiles", "PasscodeLockGracePeriod",
     "PasscodeLockGracePeriodEnforced", "AutoLockTime"}
)


Answer = Callable[["SimulatedDevice", dict[str, Any]], dict[str, Any]]


def device_information(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    queries = command.get("Queries")
    if not isinstance(queries, list):
        raise CommandRefused("MCMDMErrorDomain", 12001, "Queries must be an array")
    allowed = allowed_device_information_queries(device.enrollment_type)
    facts = device.facts()
    responses = {key: facts[key] for key in queries if key in allowed and key in facts}
    if device.behaviour.hostile:
        responses.update({key: facts[key] for key in HARDWARE_IDENTIFIER_KEYS})
    return {"QueryResponses": responses}


def profile_list(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    return {"ProfileList": [_profile_summary(p) for p in device.profiles.values()]}


def install_profile(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    data = command.get("Payload")
    if not isinstance(data, bytes):
        raise CommandRefused("MCMDMErrorDomain", 12001, "Payload must be data")
    try:
        if cms.is_cms(data):
            data = cms.verify(data).content
        profile = plist.loads(data)
    except ValueError:
        raise CommandRefused("MCProfileErrorDomain", 1000, "The profile could not be read.") from None
    identifier = profile.get("PayloadIdentifier")
    if profile.get("PayloadType") != "Configuration" or not isinstance(identifier, str):
        raise CommandRefused("MCProfileErrorDomain", 1000, "The profile is not a configuration profile.")
    if identifier == device.enrollment_profile_identifier:
        raise CommandRefused("MCInstallationErrorDomain", 4001, "Profile Installation Failed",
                             [("MCProfileErrorDomain", 1009, "The profile cannot replace the MDM enrollment profile.")])
    if device.enrollment_type == "user":
        _refuse_what_user_enrollment_forbids(profile)
    device.profiles[identifier] = profile  # same PayloadIdentifier: the new profile replaces the old one
    return {}


def _refuse_what_user_enrollment_forbids(profile: dict[str, Any]) -> None:
    """A user-enrolled phone refuses the whole profile when any payload or key is forbidden there.

    Apple's MDM error list documents no code for this; the chain follows what phones send for a
    refused profile (MCInstallationErrorDomain 4001 outermost), with 4029, the code MDM vendors
    see for a payload User Enrollment does not support, underneath.
    """
    forbidden = [problem for problem in check_profile(profile, "user").problems if problem.forbids_user_enrollment]
    if forbidden:
        first = forbidden[0]
        what = f"“{first.payload_type}”" + (f" key “{first.key}”" if first.key else "")
        raise CommandRefused("MCInstallationErrorDomain", 4001, "Profile Installation Failed",
                             [("MCInstallationErrorDomain", 4029,
                               f"The payload {what} is not supported with User Enrollment.")])


def remove_profile(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    """Removing the enrollment profile ends the enrollment once the acknowledgement is sent."""
    identifier = command.get("Identifier")
    if identifier not in device.profiles:
        raise CommandRefused("MCProfileErrorDomain", 1001, f"The profile “{identifier}” could not be found.")
    if identifier == device.enrollment_profile_identifier:
        if device.behaviour.keep_enrollment:
            raise CommandRefused("MCProfileErrorDomain", 1004, "The profile cannot be removed.")
        device.unenrolling = True
        return {}
    del device.profiles[identifier]
    return {}


def installed_application_list(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    managed_only = command.get("ManagedAppsOnly") is True or device.enrollment_type == "user"
    apps = dict(device.managed_apps)
    if not managed_only:
        apps.update(device.personal_apps)
    wanted = command.get("Identifiers")
    return {
        "InstalledApplicationList": [
            {"Identifier": bundle_id, "Name": name, "Version": "1", "ShortVersion": "1.0", "BundleSize": 10_485_760,
             "IsValidated": True}
            for bundle_id, name in apps.items()
            if not wanted or bundle_id in wanted
        ]
    }


def certificate_list(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    certificate = device.identity.certificate
    common_names = [a.value for a in certificate.subject if a.oid.dotted_string == "2.5.4.3"]
    return {
        "CertificateList": [
            {
                "CommonName": str(common_names[0]) if common_names else "MDM Identity",
                "IsIdentity": True,
                "Data": certificate.public_bytes(serialization.Encoding.DER),
            }
        ]
    }


def security_info(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    # the passcode meets the passcode declarations as it does the profiles' policies (one passcode, one answer)
    compliant = device.ddm.outcome.values.get("passcode.is-compliant", True)
    info: dict[str, Any] = {
        "HardwareEncryptionCaps": 3,
        "PasscodePresent": True,
        "PasscodeCompliant": compliant,
        "PasscodeCompliantWithProfiles": True,
        "ManagementStatus": {
            "EnrolledViaDEP": False,
            "IsUserEnrollment": device.enrollment_type == "user",
        },
    }
    if device.enrollment_type == "user":
        info = {k: v for k, v in info.items() if k not in _USER_ENROLLMENT_HIDDEN_SECURITY_KEYS}
    return {"SecurityInfo": info}


def device_lock(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    return {}


def declarative_management(device: SimulatedDevice, command: dict[str, Any]) -> dict[str, Any]:
    """Acknowledge, and synchronise declarations once the poll ends (see ``mdm_core.simulator.ddm``)."""
    try:
        device.ddm.on_command(command.get("Data"))
    except DdmProtocolError as exc:
        raise CommandRefused("MCMDMErrorDomain", 12001, str(exc)) from None
    return {}


ANSWERS: dict[str, Answer] = {
    "DeviceInformation": device_information,
    "ProfileList": profile_list,
    "InstallProfile": install_profile,
    "RemoveProfile": remove_profile,
    "ManagedApplicationList": apps.managed_application_list,
    "InstalledApplicationList": installed_application_list,
    "CertificateList": certificate_list,
    "SecurityInfo": security_info,
    "InstallApplication": apps.install_application,
    "RemoveApplication": apps.remove_application,
    "DeviceLock": device_lock,
    "Settings": apps.settings,
    "ManagedApplicationConfiguration": apps.managed_application_configuration,
    "ManagedApplicationAttributes": apps.managed_application_attributes,
    "DeclarativeManagement": declarative_management,
}


def answer(device: SimulatedDevice, request_type: str, command: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The report status and its extra keys for one command."""
    handler = ANSWERS.get(request_type)
    try:
        if device.enrollment_type == "user" and command_refusal(request_type, None) is None and \
                (refusal := command_refusal(request_type, "user")):
            raise CommandRefused("MCMDMErrorDomain", 12021, f"Not supported with User Enrollment: {refusal}.")
        if handler is None:
            raise CommandRefused("MCMDMErrorDomain", 12021, f"Unknown command “{request_type}”.")
        return "Acknowledged", handler(device, command)
    except CommandRefused as refused:
        return "Error", {"ErrorChain": refused.error_chain}


def _profile_summary(profile: dict[str, Any]) -> dict[str, Any]:
    summary = {key: profile[key] for key in ("PayloadIdentifier", "PayloadUUID", "PayloadVersion", "PayloadDisplayName",
                                             "PayloadOrganization", "PayloadDescription") if key in profile}
    summary["PayloadRemovalDisallowed"] = False
    summary["IsManaged"] = True
    summary["PayloadContent"] = [
        {key: payload[key] for key in ("PayloadType", "PayloadIdentifier", "PayloadUUID", "PayloadVersion",
                                       "PayloadDisplayName") if key in payload}
        for payload in profile.get("PayloadContent", []) if isinstance(payload, dict)
    ]
    return summary
