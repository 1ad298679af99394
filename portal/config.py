"""Settings from the environment, validated once at start-up with a clear message per bad value."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .mail.smtp_url import check_address, parse_smtp_url
from .rate_limit_quotas import parse_quotas

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_APNS_ENDPOINT = "https://api.push.apple.com"
DEFAULT_VPP_ENDPOINT = "https://vpp.itunes.apple.com/mdm/v2/"
DEFAULT_ITUNES_LOOKUP_URL = "https://itunes.apple.com/lookup"
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
CONNECT_TIMEOUT_SECONDS = 2  # libpq's smallest; DATABASE_URL's own ?connect_timeout= wins


class ConfigError(RuntimeError):
    """One or more settings are invalid; the message lists each with its fix."""


def _absolute_url(name: str, value: str, problems: list[str]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"{name}={value!r} is not an absolute http(s) URL (for example https://mdm.example.com)")
    elif parts.query or parts.fragment:
        problems.append(f"{name}={value!r} must not carry a query string or fragment")
    return value.rstrip("/")


def _int(name: str, value: str, problems: list[str], minimum: int = 0) -> int | None:
    try:
        number = int(value)
    except ValueError:
        problems.append(f"{name}={value!r} is not a whole number")
        return None
    if number < minimum:
        problems.append(f"{name}={value!r} must be at least {minimum}")
        return None
    return number


def _bool(name: str, value: str, problems: list[str]) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text not in ("0", "false", "no", "off"):
        problems.append(f"{name}={value!r} must be true or false")
    return False


def load_dotenv_file() -> None:
    """Read ``.env`` (found from the working directory up, as ``flask`` finds it) into ``os.environ`` exactly
    as the ``flask`` command does: a variable already set wins, ``FLASK_SKIP_DOTENV=1`` turns it off. wsgi.py
    and gunicorn.conf.py call it, so gunicorn serves with the settings ``flask db upgrade`` and the worker read."""
    from flask.cli import load_dotenv
    from flask.helpers import get_load_dotenv

    if get_load_dotenv():
        load_dotenv()


def secret_key_from_instance(instance_path: Path) -> str:
    """Read, or create once with mode 0600, the instance folder's generated secret key."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return key_file.read_text().strip()


def load_config(environ: Mapping[str, str], instance_path: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config from ``environ`` (and test ``overrides``), raising ConfigError on bad values."""
    overrides = dict(overrides or {})
    env = {k: v for k, v in environ.items() if v != ""}
    problems: list[str] = []

    def get(name: str, default: Any = None) -> Any:
        return overrides.get(name, env.get(name, default))

    database_url = get("DATABASE_URL") or f"sqlite:///{instance_path / 'byod-mdm.sqlite3'}"
    driver = None
    engine_options: dict[str, Any] = {}
    try:
        url = make_url(database_url)
        driver = url.drivername
        if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
            # an unreachable server must fail a request fast (503), not hold a worker for the OS's TCP timeout
            engine_options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        if url.get_backend_name() not in SUPPORTED_DIALECTS:
            problems.append(f"DATABASE_URL uses {url.get_backend_name()!r}; supported: sqlite, postgresql (postgresql+psycopg://user:pass@host/db)")
    except ArgumentError:
        problems.append("DATABASE_URL is not a valid SQLAlchemy URL (for example postgresql+psycopg://user:pass@host/db)")

    public_url = _absolute_url("PUBLIC_URL", get("PUBLIC_URL", DEFAULT_PUBLIC_URL), problems)
    apns_endpoint = _absolute_url("APNS_ENDPOINT", get("APNS_ENDPOINT", DEFAULT_APNS_ENDPOINT), problems)
    apns_ca_bundle = get("APNS_CA_BUNDLE")
    if apns_ca_bundle and not Path(apns_ca_bundle).is_file():
        problems.append(f"APNS_CA_BUNDLE={apns_ca_bundle!r} is not a readable file")
    vpp_endpoint = _absolute_url("VPP_ENDPOINT", get("VPP_ENDPOINT", DEFAULT_VPP_ENDPOINT), problems)
    vpp_ca_bundle = get("VPP_CA_BUNDLE")
    if vpp_ca_bundle and not Path(vpp_ca_bundle).is_file():
        problems.append(f"VPP_CA_BUNDLE={vpp_ca_bundle!r} is not a readable file")
    itunes_lookup_url = get("ITUNES_LOOKUP_URL", DEFAULT_ITUNES_LOOKUP_URL)
    if itunes_lookup_url is None:  # the config's own value for off, passed back as an override
        itunes_lookup_url = "off"
    if itunes_lookup_url != "off":
        _absolute_url("ITUNES_LOOKUP_URL", itunes_lookup_url, problems)

    oidc_issuer = get("OIDC_ISSUER")
    if oidc_issuer:
        _absolute_url("OIDC_ISSUER", oidc_issuer, problems)
        if not get("OIDC_CLIENT_ID"):
            problems.append("OIDC_CLIENT_ID must be set when OIDC_ISSUER is set")

    log_format = get("LOG_FORMAT", "text")
    if log_format not in ("text", "json"):
        problems.append(f"LOG_FORMAT={log_format!r} must be 'text' or 'json'")
    max_body = _int("MAX_CONTENT_LENGTH", str(get("MAX_CONTENT_LENGTH", 4 * 1024 * 1024)), problems, minimum=1024)
    proxies = _int("TRUSTED_PROXY_COUNT", str(get("TRUSTED_PROXY_COUNT", 0)), problems)
    pre_ping = _bool("DATABASE_PRE_PING", get("DATABASE_PRE_PING", "true"), problems)
    rate_limit_quotas = parse_quotas(str(get("RATE_LIMITS", "")), problems)

    client_cert_header = get("MDM_CLIENT_CERT_HEADER")
    if client_cert_header and not all(c.isalnum() or c == "-" for c in client_cert_header):
        problems.append(f"MDM_CLIENT_CERT_HEADER={client_cert_header!r} is not an HTTP header name (for example X-Client-Cert)")

    secret_key = get("SECRET_KEY")
    if secret_key is not None and len(secret_key) < 32:
        problems.append("SECRET_KEY must be at least 32 characters (generate one: python -c 'import secrets; print(secrets.token_urlsafe(48))')")

    scim_attribute = get("SCIM_MANAGED_APPLE_ID_ATTRIBUTE", "userName")
    if scim_attribute not in ("userName", "emails"):
        problems.append(f"SCIM_MANAGED_APPLE_ID_ATTRIBUTE={scim_attribute!r} must be 'userName' or 'emails'")
    offboarding_alert_hours = _int("OFFBOARDING_ALERT_AFTER", str(get("OFFBOARDING_ALERT_AFTER", 24)), problems, minimum=1)
    smtp_url, mail_from = get("SMTP_URL"), get("MAIL_FROM")
    if smtp_url:
        try:
            parse_smtp_url(smtp_url)
        except ValueError as exc:
            problems.append(f"SMTP_URL {exc}")
    if mail_from:
        try:
            check_address(mail_from)
        except ValueError as exc:
            problems.append(f"MAIL_FROM={exc}")

    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))

    secure = urlsplit(public_url).scheme == "https"  # urlsplit lower-cases the scheme: HTTPS:// is https
    config: dict[str, Any] = {
        "SECRET_KEY": secret_key or secret_key_from_instance(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # psycopg connections get a cheaper ping of the same strength (portal/database/ping.py)
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": pre_ping and driver != "postgresql+psycopg", **engine_options},
        "DATABASE_LIBPQ_PING": pre_ping and driver == "postgresql+psycopg",
        "PUBLIC_URL": public_url,
        # the one answer to "is this served over https": every cookie's Secure flag and HSTS read it
        "PUBLIC_URL_HTTPS": secure,
        "APNS_ENDPOINT": apns_endpoint,
        "APNS_CA_BUNDLE": apns_ca_bundle,
        "VPP_ENDPOINT": vpp_endpoint,
        "VPP_CA_BUNDLE": vpp_ca_bundle,
        "ITUNES_LOOKUP_URL": None if itunes_lookup_url == "off" else itunes_lookup_url,
        "OIDC_ISSUER": oidc_issuer,
        "OIDC_CLIENT_ID": get("OIDC_CLIENT_ID"),
        "OIDC_CLIENT_SECRET": get("OIDC_CLIENT_SECRET"),
        "OIDC_SCOPES": get("OIDC_SCOPES", "openid email profile"),
        "OIDC_MANAGED_APPLE_ID_CLAIM": get("OIDC_MANAGED_APPLE_ID_CLAIM", "email"),
        "OIDC_GROUPS_CLAIM": get("OIDC_GROUPS_CLAIM", "groups"),
        "DEMO_IDP_FORCE": str(get("DEMO_IDP_FORCE", "")).lower() in ("1", "true", "yes"),
        "LOG_FORMAT": log_format,
        "MAX_CONTENT_LENGTH": max_body,
        "TRUSTED_PROXY_COUNT": proxies,
        "MDM_CLIENT_CERT_HEADER": client_cert_header,
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "byod_admin_session",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "ADMIN_MAX_FAILED_LOGINS": 5,
        "ADMIN_LOCKOUT_SECONDS": 15 * 60,
        "RATE_LIMIT_QUOTAS": rate_limit_quotas,
        "SMTP_URL": smtp_url,
        "MAIL_FROM": mail_from,
        "TESTING": False,
        "SCIM_MANAGED_APPLE_ID_ATTRIBUTE": scim_attribute,
        "OFFBOARDING_ALERT_AFTER": offboarding_alert_hours,  # hours
    }
    config.update({k: v for k, v in overrides.items() if k != "DATABASE_URL"})
    return config
