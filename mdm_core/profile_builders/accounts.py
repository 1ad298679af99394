"""Account payloads: Exchange, IMAP/SMTP mail, CalDAV, CardDAV, subscribed calendars and LDAP.

These are why employees enroll. Values may hold per-user variables (``$EMAIL``,
``$USERNAME``...; see :mod:`mdm_core.profile_variables`), so one profile serves everyone.
Passwords are best left out: the phone asks the user, and a profile then holds no secret.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mdm_core.profile_builders.base import Keys, Payload, Ref

MailAuthentication = Literal["EmailAuthNone", "EmailAuthPassword", "EmailAuthCRAMMD5", "EmailAuthNTLM",
                             "EmailAuthHTTPMD5"]


@dataclass(frozen=True, kw_only=True)
class ExchangeActiveSync(Payload):
    PAYLOAD_TYPE = "com.apple.eas.account"
    TITLE = "Exchange ActiveSync"
    REQUIRED = ("Host",)

    Host: str
    EmailAddress: str | None = None
    UserName: str | None = None
    Password: str | None = None
    SSL: bool | None = True
    OAuth: bool | None = None
    MailNumberOfPastDaysToSync: Literal[0, 1, 3, 7, 14, 31] | None = None
    PayloadCertificateUUID: str | Ref | None = None
    EnableMail: bool | None = None
    EnableCalendars: bool | None = None
    EnableContacts: bool | None = None
    EnableReminders: bool | None = None
    EnableNotes: bool | None = None
    VPNUUID: str | None = None


@dataclass(frozen=True, kw_only=True)
class MailAccount(Payload):
    """An IMAP (or POP) account with its SMTP server."""

    PAYLOAD_TYPE = "com.apple.mail.managed"
    TITLE = "Mail"
    REQUIRED = ("IncomingMailServerHostName", "OutgoingMailServerHostName")

    EmailAccountType: Literal["EmailTypeIMAP", "EmailTypePOP"] = "EmailTypeIMAP"
    EmailAccountDescription: str | None = None
    EmailAccountName: str | None = None
    EmailAddress: str | None = None
    IncomingMailServerHostName: str
    IncomingMailServerPortNumber: int | None = 993
    IncomingMailServerUseSSL: bool | None = True
    IncomingMailServerAuthentication: MailAuthentication = "EmailAuthPassword"
    IncomingMailServerUsername: str | None = None
    IncomingPassword: str | None = None
    OutgoingMailServerHostName: str
    OutgoingMailServerPortNumber: int | None = 587
    OutgoingMailServerUseSSL: bool | None = True
    OutgoingMailServerAuthentication: MailAuthentication = "EmailAuthPassword"
    OutgoingMailServerUsername: str | None = None
    OutgoingPasswordSameAsIncomingPassword: bool | None = True


@dataclass(frozen=True, kw_only=True)
class CalDAVAccount(Payload):
    PAYLOAD_TYPE = "com.apple.caldav.account"
    TITLE = "CalDAV"
    REQUIRED = ("CalDAVHostName",)

    CalDAVHostName: str
    CalDAVAccountDescription: str | None = None
    CalDAVPort: int | None = None
    CalDAVPrincipalURL: str | None = None
    CalDAVUseSSL: bool | None = True
    CalDAVUsername: str | None = None
    CalDAVPassword: str | None = None


@dataclass(frozen=True, kw_only=True)
class CardDAVAccount(Payload):
    PAYLOAD_TYPE = "com.apple.carddav.account"
    TITLE = "CardDAV"
    REQUIRED = ("CardDAVHostName",)

    CardDAVHostName: str
    CardDAVAccountDescription: str | None = None
    CardDAVPort: int | None = None
    CardDAVPrincipalURL: str | None = None
    CardDAVUseSSL: bool | None = True
    CardDAVUsername: str | None = None
    CardDAVPassword: str | None = None


@dataclass(frozen=True, kw_only=True)
class SubscribedCalendar(Payload):
    """A read-only calendar subscription; ``SubCalAccountHostName`` is the calendar's URL."""

    PAYLOAD_TYPE = "com.apple.subscribedcalendar.account"
    TITLE = "Subscribed calendar"
    REQUIRED = ("SubCalAccountHostName",)

    SubCalAccountHostName: str
    SubCalAccountDescription: str | None = None
    SubCalAccountUseSSL: bool | None = True
    SubCalAccountUsername: str | None = None
    SubCalAccountPassword: str | None = None


@dataclass(frozen=True, kw_only=True)
class LDAPSearchSetting(Keys):
    LDAPSearchSettingSearchBase: str
    LDAPSearchSettingDescription: str | None = None
    LDAPSearchSettingScope: Literal["LDAPSearchSettingScopeBase", "LDAPSearchSettingScopeOneLevel",
                                    "LDAPSearchSettingScopeSubtree"] | None = "LDAPSearchSettingScopeSubtree"


@dataclass(frozen=True, kw_only=True)
class LDAPAccount(Payload):
    PAYLOAD_TYPE = "com.apple.ldap.account"
    TITLE = "LDAP"
    REQUIRED = ("LDAPAccountHostName",)

    LDAPAccountHostName: str
    LDAPAccountDescription: str | None = None
    LDAPAccountUseSSL: bool | None = True
    LDAPAccountUserName: str | None = None
    LDAPAccountPassword: str | None = None
    LDAPSearchSettings: tuple[LDAPSearchSetting, ...] | None = None

