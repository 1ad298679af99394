"""Builders for the configuration-profile payloads User Enrollment allows and employees need most.

Build payloads from plain typed values (the fields an admin form has, named as Apple names
the keys), then wrap them with :func:`build_profile`::

    scep = SCEPIdentity(name="identity", URL="https://ca.example.com/scep", Subject=(("CN", "$EMAIL"),))
    wifi = WiFi(SSID_STR="Corp", EncryptionType="WPA2",
                EAPClientConfiguration=EAPClientConfiguration(AcceptEAPTypes=(EAP_TLS,)),
                PayloadCertificateUUID=Ref("identity"))
    profile = build_profile("com.example.wifi", [scep, wifi], display_name="Corporate Wi-Fi")

The result is an unsigned profile dictionary; check it with :mod:`mdm_core.profile_check`,
fill per-user values with :mod:`mdm_core.profile_variables`, sign it with :mod:`mdm_core.cms`.
"""
from mdm_core.profile_builders.accounts import (
    CalDAVAccount,
    CardDAVAccount,
    ExchangeActiveSync,
    LDAPAccount,
    LDAPSearchSetting,
    MailAccount,
    SubscribedCalendar,
)
from mdm_core.profile_builders.base import BuildError, Payload, Ref, build_profile, payload_uuid
from mdm_core.profile_builders.certificates import (
    ACMEIdentity,
    PKCS1Certificate,
    PKCS12Identity,
    RootCertificate,
    SCEPIdentity,
    SubjectAltName,
)
from mdm_core.profile_builders.network import (
    EAP_PEAP,
    EAP_TLS,
    EAP_TTLS,
    IKEv2,
    EAPClientConfiguration,
    PerAppVPN,
    VPNProvider,
    WiFi,
)
from mdm_core.profile_builders.policies import PasscodePolicy, Restrictions, restriction_keys
from mdm_core.profile_builders.web import ExtensibleSSO, WebClip

__all__ = [
    "ACMEIdentity", "BuildError", "CalDAVAccount", "CardDAVAccount", "EAPClientConfiguration", "EAP_PEAP",
    "EAP_TLS", "EAP_TTLS", "ExchangeActiveSync", "ExtensibleSSO", "IKEv2", "LDAPAccount", "LDAPSearchSetting",
    "MailAccount", "PKCS12Identity", "PKCS1Certificate", "PasscodePolicy", "Payload", "PerAppVPN", "Ref",
    "Restrictions", "RootCertificate", "SCEPIdentity", "SubjectAltName", "SubscribedCalendar", "VPNProvider",
    "WebClip", "WiFi", "build_profile", "payload_uuid", "restriction_keys",
]
