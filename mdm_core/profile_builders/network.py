"""Wi-Fi and per-app VPN payloads: the network access an employee's work apps need.

Only what User Enrollment allows: no Wi-Fi proxy keys and no full-device VPN
(``com.apple.vpn.managed``); a per-app VPN carries the VPN payload's keys, as Apple's
schema for ``com.apple.vpn.managed.applayer`` says, and apps join it by its ``VPNUUID``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mdm_core.profile_builders.base import BuildError, Keys, Payload, Ref, payload_uuid

#: EAP method numbers (IANA) as ``AcceptEAPTypes`` lists them.
EAP_TLS, EAP_TTLS, EAP_PEAP = 13, 21, 25


@dataclass(frozen=True, kw_only=True)
class EAPClientConfiguration(Keys):
    """Enterprise (802.1X) settings. For EAP-TLS, the Wi-Fi payload's ``PayloadCertificateUUID``
    names the identity (a SCEP, ACME or PKCS#12 payload)."""

    AcceptEAPTypes: tuple[int, ...] = (EAP_TLS,)
    UserName: str | None = None
    UserPassword: str | None = None
    OuterIdentity: str | None = None
    TTLSInnerAuthentication: Literal["PAP", "EAP", "CHAP", "MSCHAP", "MSCHAPv2"] | None = None
    TLSTrustedServerNames: tuple[str, ...] | None = None
    PayloadCertificateAnchorUUID: tuple[str | Ref, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class WiFi(Payload):
    PAYLOAD_TYPE = "com.apple.wifi.managed"
    TITLE = "Wi-Fi"
    REQUIRED = ("SSID_STR",)

    SSID_STR: str
    EncryptionType: Literal["WEP", "WPA", "WPA2", "WPA3", "Any", "None"] = "WPA2"
    Password: str | None = None
    HIDDEN_NETWORK: bool | None = None
    AutoJoin: bool | None = True
    EAPClientConfiguration: EAPClientConfiguration | None = None
    PayloadCertificateUUID: str | Ref | None = None

    def check(self) -> None:
        super().check()
        eap = self.EAPClientConfiguration
        if eap is not None and EAP_TLS in eap.AcceptEAPTypes and self.PayloadCertificateUUID is None:
            raise BuildError("Wi-Fi: EAP-TLS needs PayloadCertificateUUID naming a certificate or SCEP/ACME payload")
        if eap is not None and self.Password is not None:
            raise BuildError("Wi-Fi: an enterprise (EAP) network takes UserPassword, not a pre-shared Password")


@dataclass(frozen=True, kw_only=True)
class IKEv2(Keys):
    RemoteAddress: str
    RemoteIdentifier: str
    LocalIdentifier: str
    AuthenticationMethod: Literal["Certificate", "SharedSecret", "None"] = "Certificate"
    PayloadCertificateUUID: str | Ref | None = None
    SharedSecret: str | None = None
    ExtendedAuthEnabled: int | None = None
    AuthName: str | None = None
    AuthPassword: str | None = None


@dataclass(frozen=True, kw_only=True)
class VPNProvider(Keys):
    """The ``VPN`` dictionary of a ``VPNType`` "VPN" (an app-provided VPN such as a vendor's SSL VPN)."""

    AuthenticationMethod: Literal["Password", "Certificate"] | None = None
    PayloadCertificateUUID: str | Ref | None = None
    ProviderBundleIdentifier: str | None = None
    ProviderType: Literal["packet-tunnel", "app-proxy"] | None = None


@dataclass(frozen=True, kw_only=True)
class PerAppVPN(Payload):
    """``VPNUUID`` defaults to a UUID derived from the payload's identifier, so apps keep their mapping
    across edits."""

    PAYLOAD_TYPE = "com.apple.vpn.managed.applayer"
    TITLE = "Per-app VPN"
    REQUIRED = ("UserDefinedName",)

    UserDefinedName: str
    VPNType: Literal["IKEv2", "VPN"] = "IKEv2"
    VPNSubType: str | None = None
    VPNUUID: str | None = None
    IKEv2: IKEv2 | None = None
    VPN: VPNProvider | None = None
    OnDemandMatchAppEnabled: bool | None = None
    SafariDomains: tuple[str, ...] | None = None
    MailDomains: tuple[str, ...] | None = None
    CalendarDomains: tuple[str, ...] | None = None
    ContactsDomains: tuple[str, ...] | None = None

    def check(self) -> None:
        super().check()
        if self.VPNType == "IKEv2" and (self.IKEv2 is None or self.VPN is not None):
            raise BuildError("per-app VPN: VPNType IKEv2 takes the IKEv2 settings (and no VPN dictionary)")
        if self.VPNType == "VPN" and (not self.VPNSubType or self.VPN is None or self.IKEv2 is not None):
            raise BuildError("per-app VPN: VPNType VPN takes VPNSubType (the VPN app's bundle ID) and the VPN dictionary")

    def complete(self, keys: dict[str, Any], payload_identifier: str) -> dict[str, Any]:
        if self.VPNUUID is None:
            keys["VPNUUID"] = payload_uuid(f"{payload_identifier}#VPNUUID")
        return keys
