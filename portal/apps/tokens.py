"""The location's content token: upload (sealed at rest), the client for the Apps and Books service,
the location's claim (``clientContext``), and what the dashboard says about it.

Apple recommends that a server write its own ``clientContext`` into the location's client
configuration and check it before using the location, so that two servers managing one location
(which would take each other's licenses back) is noticed. We write ``{"hostname", "guid"}``
(``PUBLIC_URL``'s host and an id made once per installation); a context naming another server is
recorded and shown, and only an admin's explicit take-over replaces it.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy.orm import Session

from mdm_core.sealed import seal, unseal
from mdm_core.vpp.client import VppClient, VppError
from mdm_core.vpp.token import ContentToken, ContentTokenError, parse_content_token

from .. import audit
from ..models import VppToken
from ..models.base import utcnow
from ..secret_box import app_secret
from ..settings_store import get_setting, set_setting

log = logging.getLogger(__name__)
TOKEN_ROW = 1
WARN_BEFORE = timedelta(days=30)
_LABEL = b"vpp-content-token"
_GUID_KEY = "vpp.server_guid"


class TokenRejected(ValueError):
    """The upload is not a usable content token; the message says why."""


def current_token(session: Session) -> VppToken | None:
    return session.get(VppToken, TOKEN_ROW)


def save_token(session: Session, data: bytes, actor: str | None) -> tuple[VppToken, ContentToken]:
    """Store an uploaded ``.vpptoken`` (replacing the previous one; apps, users and licenses stay).
    The caller commits."""
    try:
        parsed = parse_content_token(data)
    except ContentTokenError as exc:
        raise TokenRejected(str(exc)) from None
    if parsed.expired():
        raise TokenRejected(f"this content token expired on {parsed.expires_at:%Y-%m-%d}; download a new one "
                            "from Apple Business Manager")
    row = current_token(session)
    if row is None:
        row = VppToken(id=TOKEN_ROW)
        session.add(row)
    row.sealed_token = seal(parsed.stoken.encode(), app_secret(), _LABEL)
    row.organization, row.expires_at = parsed.organization[:255], parsed.expires_at
    row.location_name = (parsed.location_name or "")[:255] or None
    row.uploaded_at, row.uploaded_by = utcnow(), actor
    row.expired_at = row.last_error = row.not_before = None
    audit.record("vpp.token_uploaded", target_type="vpp_token", target_id=TOKEN_ROW,
                 detail={"organization": row.organization, "expires_at": row.expires_at.isoformat()})
    return row, parsed


def stoken(row: VppToken) -> str:
    return unseal(row.sealed_token, app_secret(), _LABEL).decode()


def client_for(row: VppToken, **options: Any) -> VppClient:
    """A client of the service at ``VPP_ENDPOINT`` (trusting ``VPP_CA_BUNDLE``) with the stored token."""
    config = current_app.config
    return VppClient(config["VPP_ENDPOINT"].rstrip("/") + "/", stoken(row), ca_bundle=config.get("VPP_CA_BUNDLE"),
                     **options)


def server_context(session: Session) -> dict[str, str]:
    """The ``clientContext`` naming this installation."""
    guid = get_setting(_GUID_KEY)
    if not guid:
        guid = str(uuid.uuid4())
        set_setting(_GUID_KEY, guid)
        session.flush()
    return {"hostname": urlsplit(current_app.config["PUBLIC_URL"]).hostname or "", "guid": guid}


def _ours(context: Any, mine: dict[str, str]) -> bool | None:
    """True for our context, None for none at all, False for another server's."""
    if context in (None, "", {}):
        return None
    try:
        parsed = json.loads(context) if isinstance(context, str) else context
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("guid") == mine["guid"]


@dataclass(frozen=True)
class Claim:
    claimed: bool
    other_server: str | None
    replaced: str | None = None  # the other server's context a take-over replaced


def claim_location(session: Session, row: VppToken, client: VppClient, *, take_over: bool = False) -> Claim:
    """Read the location's client configuration and write our context unless another server's is
    there (then record it; ``take_over`` replaces it). Service errors propagate. The caller commits."""
    mine = server_context(session)
    config = client.client_config()
    context = config.get("clientContext") if isinstance(config, dict) else None
    location = config.get("locationName") if isinstance(config, dict) else None
    if isinstance(location, str) and location.isprintable():
        row.location_name = location[:255]
    ours = _ours(context, mine)
    if ours is False and not take_over:
        row.other_server, row.claimed_at = str(context)[:2000], None
        audit.record("vpp.location_claimed_elsewhere", actor_type="system", actor="system:apps",
                     target_type="vpp_token", target_id=TOKEN_ROW, detail={"client_context": row.other_server})
        return Claim(False, row.other_server)
    if ours is not True:
        client.set_client_context(json.dumps(mine, separators=(",", ":")))
        if ours is False:
            audit.record("vpp.location_taken_over", target_type="vpp_token", target_id=TOKEN_ROW,
                         detail={"previous_client_context": str(context)[:2000]})
    row.other_server, row.claimed_at = None, row.claimed_at or utcnow()
    return Claim(True, None, str(context)[:2000] if ours is False else None)


def claim_now(session: Session, row: VppToken, *, take_over: bool = False) -> Claim | None:
    """Claim the location right away (after an upload, or the admin's take-over) and commit; None when
    the service cannot be reached (``row.last_error`` says why; the worker claims it later)."""
    try:
        with client_for(row, max_wait=5.0, max_attempts=2) as client:
            claim: Claim | None = claim_location(session, row, client, take_over=take_over)
    except VppError as exc:
        session.rollback()
        row.last_error = f"the Apps and Books service failed: {exc}"[:2000]
        log.warning("claiming the Apps and Books location failed: %s", exc)
        claim = None
    session.commit()
    return claim


def token_alert(session: Session, now: datetime | None = None) -> dict[str, str] | None:
    """The dashboard's warning about the content token: expired (by date or by the service), expiring
    within 30 days, or the location managed by another server; None when all is well."""
    row = current_token(session)
    if row is None:
        return None
    now = now or utcnow()
    if row.expired_at is not None or row.expires_at <= now:
        return {"level": "error", "message": "The Apps and Books content token has expired: apps wait until you "
                                             "upload a new one."}
    if row.other_server:
        return {"level": "error", "message": "Another server manages this Apps and Books location "
                                             f"({row.other_server[:200]}); confirm the take-over to use it here."}
    if row.expires_at - now <= WARN_BEFORE:
        return {"level": "warning", "message": f"The Apps and Books content token expires on "
                                               f"{row.expires_at:%Y-%m-%d} ({(row.expires_at - now).days} days)."}
    return None
