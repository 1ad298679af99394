"""``SMTP_URL`` and the SMTP connection settings it describes (no Flask: the config loader uses it)."""
from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.errors import HeaderParseError
from urllib.parse import parse_qs, unquote, urlsplit

#: smtp:// upgrades with STARTTLS when the server offers it; required: refuse to send otherwise; tls: smtps://.
SECURITY_MODES = ("starttls", "starttls_required", "tls")
DEFAULT_PORTS = {"starttls": 587, "starttls_required": 587, "tls": 465}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str | None = None
    password: str | None = None
    from_address: str = ""
    source: str = "environment"  # or "page": where these settings came from

    def describe(self) -> str:
        """The settings without the password, for pages and logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{user}{self.host}:{self.port} ({self.security})"


def parse_smtp_url(url: str) -> SmtpSettings:
    """``smtp://user:pass@host:587[?starttls=required]`` or ``smtps://user:pass@host:465``; ValueError says why not."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// (STARTTLS when offered) or smtps:// (TLS)")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if not host:
        raise ValueError("names no host (for example smtp://user:pass@mail.example.org:587)")
    query = parse_qs(parts.query, keep_blank_values=True)
    if set(query) - {"starttls"} or query.get("starttls", ["required"]) != ["required"]:
        raise ValueError("takes only the query ?starttls=required")
    if parts.scheme == "smtps":
        if query:
            raise ValueError("smtps:// is TLS from the start: ?starttls does not apply")
        security = "tls"
    else:
        security = "starttls_required" if query else "starttls"
    return SmtpSettings(host=host, port=port or DEFAULT_PORTS[security], security=security,
                        username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password is not None else None)


def check_address(value: str) -> str:
    """A bare e-mail address (``someone@example.org``), or ValueError: no display name, no line breaks."""
    value = (value or "").strip()
    if not value or len(value) > 320 or any(c in value for c in "\r\n<>,;\"() "):
        raise ValueError(f"{value[:80]!r} is not an e-mail address (for example it@example.org)")
    try:
        address = Address(addr_spec=value)
    except (ValueError, HeaderParseError, IndexError):
        raise ValueError(f"{value[:80]!r} is not an e-mail address (for example it@example.org)") from None
    if not address.username or "." not in address.domain:
        raise ValueError(f"{value[:80]!r} is not an e-mail address (for example it@example.org)")
    return value
