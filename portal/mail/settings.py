"""Which SMTP server mail goes through: ``SMTP_URL``/``MAIL_FROM`` from the environment win over the admin
page (an operator's deployment decides; the page then shows them read-only), else the page's, else none
(mail waits in the outbox). The page's password is stored sealed (``portal.secret_box``)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping
from urllib.parse import urlsplit

from flask import current_app

from ..secret_box import seal, unseal
from ..settings_store import get_setting, set_setting
from .smtp_url import DEFAULT_PORTS, SECURITY_MODES, SmtpSettings, check_address, parse_smtp_url

PAGE_KEY = "mail.smtp"
PASSWORD_PURPOSE = "smtp-password"
_HOST_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")


def from_environment() -> bool:
    return bool(current_app.config.get("SMTP_URL"))


def default_sender() -> str:
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"
    return f"no-reply@{host}"


def page_values() -> dict[str, Any]:
    """The page's stored settings (never the password: only whether one is stored)."""
    stored = get_setting(PAGE_KEY) or {}
    return {"host": stored.get("host", ""), "port": stored.get("port"), "security": stored.get("security", "starttls"),
            "username": stored.get("username", ""), "from_address": stored.get("from_address", ""),
            "has_password": bool(stored.get("password_sealed"))}


def effective_settings() -> SmtpSettings | None:
    """The settings mail is sent with now, or None when no server is configured."""
    config = current_app.config
    stored = get_setting(PAGE_KEY) or {}
    if config.get("SMTP_URL"):
        settings = parse_smtp_url(config["SMTP_URL"])
    elif stored.get("host"):
        sealed = stored.get("password_sealed")
        settings = SmtpSettings(host=stored["host"], port=stored["port"], security=stored["security"],
                                username=stored.get("username") or None,
                                password=unseal(sealed, PASSWORD_PURPOSE) if sealed else None, source="page")
    else:
        return None
    sender = config.get("MAIL_FROM") or stored.get("from_address") or default_sender()
    return replace(settings, from_address=sender)


def validate_page_form(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The page's submitted settings, cleaned, and a message per bad field."""
    errors: dict[str, str] = {}
    host = form.get("host", "").strip().lower()
    if host and (len(host) > 253 or not set(host) <= _HOST_CHARS):
        errors["host"] = "must be a host name or address (for example smtp.example.org)"
    security = form.get("security", "starttls")
    if security not in SECURITY_MODES:
        errors["security"] = f"must be one of {', '.join(SECURITY_MODES)}"
        security = "starttls"
    port_text = form.get("port", "").strip()
    port = DEFAULT_PORTS[security]
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            errors["port"] = "must be a number from 1 to 65535"
        else:
            port = int(port_text)
    username = form.get("username", "").strip()
    if len(username) > 320 or any(c in username for c in "\r\n"):
        errors["username"] = "must be one line of at most 320 characters"
    password = form.get("password", "")
    if len(password) > 500 or any(c in password for c in "\r\n"):
        errors["password"] = "must be one line of at most 500 characters"
    from_address = form.get("from_address", "").strip()
    if from_address:
        try:
            check_address(from_address)
        except ValueError as exc:
            errors["from_address"] = str(exc)
    values = {"host": host, "port": port, "security": security, "username": username, "from_address": from_address,
              "password": password, "clear_password": form.get("clear_password") == "on"}
    return values, errors


def save_page_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Store the page's settings (an empty password keeps the stored one); returns what changed, without secrets.
    The caller audits and commits."""
    stored = dict(get_setting(PAGE_KEY) or {})
    new = {key: values[key] for key in ("host", "port", "security", "username", "from_address")}
    if values.get("clear_password"):
        new["password_sealed"] = None
    elif values.get("password"):
        new["password_sealed"] = seal(values["password"], PASSWORD_PURPOSE)
    else:
        new["password_sealed"] = stored.get("password_sealed")
    changed = {key: value for key, value in new.items() if stored.get(key) != value}
    set_setting(PAGE_KEY, new)
    if "password_sealed" in changed:
        changed["password_sealed"] = "changed" if new["password_sealed"] else "cleared"
    return changed
