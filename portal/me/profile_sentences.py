"""What an organisation profile does, in one plain sentence per payload, for the employee's page.

One function per payload type, reading only the setting that names the thing (the network, the mail
address, the server's host): never an identifier, never anything about the person's own data. A value
that still holds a ``$VARIABLE`` (not filled for this person) is left out rather than shown, and on a
user-enrolled phone the keys User Enrollment ignores are not read (a passcode policy there only requires
a passcode, whatever length it names). Sentences are in the reader's language.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from flask_babel import ngettext

from mdm_core.capabilities import payload_spec


def _value(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip() or "$" in value:
        return None
    return value.strip()[:120]


def _host(text: str | None) -> str | None:
    """The host of a URL or host name, which is what a person recognises."""
    if not text:
        return None
    try:
        host = urlsplit(text if "//" in text else f"//{text}").hostname
    except ValueError:  # such as an unclosed "[" (urlsplit reads an IPv6 address): the text as it is
        host = None
    return (host or text)[:120]


def wifi(p: Mapping[str, Any]) -> str:
    ssid, certificate = _value(p, "SSID_STR"), bool(p.get("PayloadCertificateUUID"))
    if ssid:
        return (_("Connects to the Wi-Fi network %(ssid)s with a certificate that identifies you.", ssid=ssid)
                if certificate else _("Connects to the Wi-Fi network %(ssid)s.", ssid=ssid))
    return (_("Connects to a work Wi-Fi network with a certificate that identifies you.") if certificate
            else _("Connects to a work Wi-Fi network."))


def exchange(p: Mapping[str, Any]) -> str:
    detail = _value(p, "EmailAddress")
    return (_("Adds your work Exchange account to Mail, Calendar and Contacts (%(detail)s).", detail=detail)
            if detail else _("Adds your work Exchange account to Mail, Calendar and Contacts."))


def mail(p: Mapping[str, Any]) -> str:
    detail = _value(p, "EmailAddress")
    return (_("Adds your work mail account to Mail (%(detail)s).", detail=detail) if detail
            else _("Adds your work mail account to Mail."))


def caldav(p: Mapping[str, Any]) -> str:
    detail = _host(_value(p, "CalDAVHostName"))
    return (_("Adds a work calendar account to Calendar (%(detail)s).", detail=detail) if detail
            else _("Adds a work calendar account to Calendar."))


def carddav(p: Mapping[str, Any]) -> str:
    detail = _host(_value(p, "CardDAVHostName"))
    return (_("Adds work contacts to Contacts (%(detail)s).", detail=detail) if detail
            else _("Adds work contacts to Contacts."))


def subscribed_calendar(p: Mapping[str, Any]) -> str:
    detail = _value(p, "SubCalAccountDescription") or _host(_value(p, "SubCalAccountHostName"))
    return (_("Subscribes Calendar to a work calendar (%(detail)s).", detail=detail) if detail
            else _("Subscribes Calendar to a work calendar."))


def ldap(p: Mapping[str, Any]) -> str:
    detail = _host(_value(p, "LDAPAccountHostName"))
    return (_("Lets Contacts and Mail look up colleagues in the company directory (%(detail)s).", detail=detail)
            if detail else _("Lets Contacts and Mail look up colleagues in the company directory."))


def per_app_vpn(p: Mapping[str, Any]) -> str:
    name = _value(p, "UserDefinedName")
    return (_("Sets up the VPN %(name)s for work apps only; your own apps do not use it.", name=name) if name
            else _("Sets up a VPN for work apps only; your own apps do not use it."))


def trust(p: Mapping[str, Any]) -> str:
    return _("Lets your device trust the organisation's servers (a certificate authority).")


def certificate(p: Mapping[str, Any]) -> str:
    return _("Adds a certificate of the organisation's servers.")


def identity(p: Mapping[str, Any]) -> str:
    return _("Installs a certificate that identifies you to work services such as Wi-Fi, VPN or mail.")


def web_clip(p: Mapping[str, Any]) -> str:
    label, host = _value(p, "Label"), _host(_value(p, "URL"))
    if label:
        return (_("Adds the %(label)s icon to your Home Screen, opening %(host)s.", label=label, host=host) if host
                else _("Adds the %(label)s icon to your Home Screen.", label=label))
    return (_("Adds an icon to your Home Screen, opening %(host)s.", host=host) if host
            else _("Adds an icon to your Home Screen."))


def passcode(p: Mapping[str, Any]) -> str:
    length = p.get("minLength")
    if isinstance(length, int) and not isinstance(length, bool) and 0 < length < 100:
        return ngettext("Requires a passcode of at least %(num)d character.",
                        "Requires a passcode of at least %(num)d characters.", length)
    return _("Requires a passcode on your device.")


def restrictions(p: Mapping[str, Any]) -> str:
    return _("Applies the organisation's rules to work apps and work data (not to your own apps).")


def single_sign_on(p: Mapping[str, Any]) -> str:
    return _("Signs you in to work apps and websites with your work account.")


SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "com.apple.wifi.managed": wifi,
    "com.apple.eas.account": exchange,
    "com.apple.mail.managed": mail,
    "com.apple.caldav.account": caldav,
    "com.apple.carddav.account": carddav,
    "com.apple.subscribedcalendar.account": subscribed_calendar,
    "com.apple.ldap.account": ldap,
    "com.apple.vpn.managed.applayer": per_app_vpn,
    "com.apple.security.root": trust,
    "com.apple.security.pkcs1": certificate,
    "com.apple.security.pkcs12": identity,
    "com.apple.security.scep": identity,
    "com.apple.security.acme": identity,
    "com.apple.webClip.managed": web_clip,
    "com.apple.mobiledevice.passwordpolicy": passcode,
    "com.apple.applicationaccess": restrictions,
    "com.apple.extensiblesso": single_sign_on,
}


def _applied(payload: Mapping[str, Any], user_enrollment: bool) -> Mapping[str, Any]:
    """The payload's keys the phone applies: under User Enrollment, without those it ignores."""
    if not user_enrollment:
        return payload
    spec = payload_spec(payload.get("PayloadType"))
    if spec is None:
        return payload
    keys = spec.keys
    return {name: value for name, value in payload.items()
            if name not in keys or keys[name].user_enrollment != "ignored"}


def describe(profile: Mapping[str, Any], user_enrollment: bool = True) -> list[str]:
    """One sentence per payload, in order, without repeating a sentence (a dict keeps the order and finds a
    repeat at once, where a list would compare each new sentence with every earlier one)."""
    sentences: dict[str, None] = {}
    for payload in profile.get("PayloadContent") or []:
        if not isinstance(payload, Mapping):
            continue
        kind = SENTENCES.get(payload.get("PayloadType"))
        sentence = kind(_applied(payload, user_enrollment)) if kind else _("Applies a work setting of the organisation.")
        sentences[sentence] = None
    return list(sentences)
