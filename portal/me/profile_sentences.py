"""What an organisation profile does, in one plain sentence per payload, for the employee's page.

One function per payload type, reading only the setting that names the thing (the network, the mail
address, the server's host): never an identifier, never anything about the person's own data. A value
that still holds a ``$VARIABLE`` (not filled for this person) is left out rather than shown, and on a
user-enrolled phone the keys User Enrollment ignores are not read (a passcode policy there only requires
a passcode, whatever length it names).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

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
    return (urlsplit(text if "//" in text else f"//{text}").hostname or text)[:120]


def _with(sentence: str, detail: str | None) -> str:
    return f"{sentence} ({detail})." if detail else f"{sentence}."


def wifi(p: Mapping[str, Any]) -> str:
    ssid = _value(p, "SSID_STR")
    network = f"the Wi-Fi network {ssid}" if ssid else "a work Wi-Fi network"
    how = " with a certificate that identifies you" if p.get("PayloadCertificateUUID") else ""
    return f"Connects to {network}{how}."


def exchange(p: Mapping[str, Any]) -> str:
    return _with("Adds your work Exchange account to Mail, Calendar and Contacts", _value(p, "EmailAddress"))


def mail(p: Mapping[str, Any]) -> str:
    return _with("Adds your work mail account to Mail", _value(p, "EmailAddress"))


def caldav(p: Mapping[str, Any]) -> str:
    return _with("Adds a work calendar account to Calendar", _host(_value(p, "CalDAVHostName")))


def carddav(p: Mapping[str, Any]) -> str:
    return _with("Adds work contacts to Contacts", _host(_value(p, "CardDAVHostName")))


def subscribed_calendar(p: Mapping[str, Any]) -> str:
    return _with("Subscribes Calendar to a work calendar",
                 _value(p, "SubCalAccountDescription") or _host(_value(p, "SubCalAccountHostName")))


def ldap(p: Mapping[str, Any]) -> str:
    return _with("Lets Contacts and Mail look up colleagues in the company directory",
                 _host(_value(p, "LDAPAccountHostName")))


def per_app_vpn(p: Mapping[str, Any]) -> str:
    name = _value(p, "UserDefinedName")
    return (f"Sets up the VPN {name} for work apps only" if name else "Sets up a VPN for work apps only") + \
        "; your own apps do not use it."


def trust(p: Mapping[str, Any]) -> str:
    return "Lets your device trust the organisation's servers (a certificate authority)."


def certificate(p: Mapping[str, Any]) -> str:
    return "Adds a certificate of the organisation's servers."


def identity(p: Mapping[str, Any]) -> str:
    return "Installs a certificate that identifies you to work services such as Wi-Fi, VPN or mail."


def web_clip(p: Mapping[str, Any]) -> str:
    label, host = _value(p, "Label"), _host(_value(p, "URL"))
    icon = f"the {label} icon" if label else "an icon"
    return f"Adds {icon} to your Home Screen, opening {host}." if host else f"Adds {icon} to your Home Screen."


def passcode(p: Mapping[str, Any]) -> str:
    length = p.get("minLength")
    if isinstance(length, int) and not isinstance(length, bool) and 0 < length < 100:
        return f"Requires a passcode of at least {length} characters."
    return "Requires a passcode on your device."


def restrictions(p: Mapping[str, Any]) -> str:
    return "Applies the organisation's rules to work apps and work data (not to your own apps)."


def single_sign_on(p: Mapping[str, Any]) -> str:
    return "Signs you in to work apps and websites with your work account."


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
OTHER = "Applies a work setting of the organisation."


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
    """One sentence per payload, in order, without repeating a sentence."""
    sentences: list[str] = []
    for payload in profile.get("PayloadContent") or []:
        if not isinstance(payload, Mapping):
            continue
        kind = SENTENCES.get(payload.get("PayloadType"))
        sentence = kind(_applied(payload, user_enrollment)) if kind else OTHER
        if sentence not in sentences:
            sentences.append(sentence)
    return sentences
