"""The location's content token (the ``.vpptoken`` file from Apple Business Manager).

The file is base64 of a JSON object with ``token``, ``expDate`` and ``orgName``; the file's text
itself is the sToken the Apps and Books API expects as ``Authorization: Bearer <sToken>``.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from dataclasses import dataclass

from .. import bounded_json

#: Apple's tokens are a few hundred bytes; anything this large is not one.
MAX_TOKEN_BYTES = 16 * 1024


class ContentTokenError(ValueError):
    """The data is not a usable content token; the message says why, for the admin."""


@dataclass(frozen=True)
class ContentToken:
    """A parsed content token. ``stoken`` is sent as is; ``expires_at`` is UTC."""

    stoken: str
    expires_at: dt.datetime
    organization: str
    location_name: str | None = None
    org_id: str | None = None

    def expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at <= (now or dt.datetime.now(dt.timezone.utc))


def parse_content_token(data: bytes | str) -> ContentToken:
    """Read a ``.vpptoken`` file's content; raises :class:`ContentTokenError` for anything else.

    An expired token still parses (the caller shows its date and refuses to use it)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if len(data) > MAX_TOKEN_BYTES:
        raise ContentTokenError(f"a content token is at most {MAX_TOKEN_BYTES} bytes; this is {len(data)}")
    stoken = b"".join(data.split())  # a file saved with a trailing newline is still the same token
    if not stoken:
        raise ContentTokenError("the content token is empty")
    try:
        decoded = base64.b64decode(stoken, validate=True)
        fields = bounded_json.loads(decoded.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ContentTokenError("this is not a content token (.vpptoken): expected base64 of a JSON object") from None
    if not isinstance(fields, dict):
        raise ContentTokenError("this is not a content token (.vpptoken): expected a JSON object")
    missing = [key for key in ("token", "expDate", "orgName") if not isinstance(fields.get(key), str) or
               not fields[key]]
    if missing:
        raise ContentTokenError(f"the content token lacks {', '.join(missing)}")
    expires_at = _parse_date(fields["expDate"])
    optional = {name: fields[key] if isinstance(fields.get(key), str) else None
                for name, key in (("location_name", "locationName"), ("org_id", "orgId"))}
    return ContentToken(stoken.decode("ascii"), expires_at, fields["orgName"], **optional)


def _parse_date(text: str) -> dt.datetime:
    """Apple writes ``2030-11-08T22:33:22-0700``; a date without an offset is not trusted to be UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ContentTokenError(f"the content token's expiry date {text[:40]!r} is not a date") from None
    if value.tzinfo is None:
        raise ContentTokenError(f"the content token's expiry date {text[:40]!r} has no time zone")
    return value.astimezone(dt.timezone.utc)


def format_date(value: dt.datetime) -> str:
    """A UTC time the way Apple writes ``expDate`` and ``tokenExpirationDate``."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def make_content_token(organization: str = "Example Organization", *, expires_at: dt.datetime | None = None,
                       token: str | None = None, **extra: str) -> bytes:
    """A ``.vpptoken`` file's bytes shaped like Apple's, for the stand-in, demos and tests.

    ``extra`` adds fields by their JSON names (``locationName``...)."""
    expires_at = expires_at or dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
    fields = {"token": token or base64.b64encode(secrets.token_bytes(96)).decode("ascii"),
              "expDate": format_date(expires_at), "orgName": organization, **extra}
    return base64.b64encode(json.dumps(fields).encode("utf-8"))
