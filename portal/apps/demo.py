"""The demo's Apps and Books location: ``make run`` serves the stand-in (``mdm_core.vpp.standin --demo``) and
``demo-setup --vpp-token FILE`` loads its content token here, so an admin trying the demo finds a claimed
location and a catalogue with license counts at once.

Running it again changes nothing: the token is stored only when none is, or when the stored one is the same
organisation's (a renewal, which keeps apps, people and licenses); a token of another organisation (uploaded
by the admin) is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm_core.vpp.token import parse_content_token

from ..models import App
from . import sync
from .tokens import current_token, save_token, stoken

ACTOR = "demo-setup"


@dataclass(frozen=True)
class DemoLocation:
    """What the set-up did: ``loaded`` (the token was stored now), the organisation, the synced App Store
    apps as ``(adam_id, name, available, total)``, and the service's error, if any."""

    loaded: bool
    organization: str
    apps: list[tuple[str, str | None, int, int]]
    error: str | None = None


def load_demo_token(session: Session, data: bytes) -> DemoLocation:
    """Store the stand-in's content token (see the module's rule), then claim the location and sync the
    catalogue now, as the worker would at its next pass. Raises ValueError (``ContentTokenError``,
    ``TokenRejected``) for a file that is not a usable token. Commits."""
    parsed = parse_content_token(data)
    row = current_token(session)
    loaded = row is None or (row.organization == parsed.organization[:255] and stoken(row) != parsed.stoken)
    if row is not None and row.organization != parsed.organization[:255]:
        return DemoLocation(False, row.organization, [], "a content token of another organisation is stored; "
                                                         "the demo's is not loaded")
    if loaded:
        row, _ = save_token(session, data, ACTOR)
        session.commit()
    busy = sync.run(session, sync_catalogue=True).get("busy")
    apps = session.execute(select(App.adam_id, App.name, App.licenses_available, App.licenses_total)
                           .where(App.source == "vpp", App.in_service.is_(True), App.deleted_at.is_(None))
                           .order_by(App.adam_id)).all()
    return DemoLocation(loaded, row.organization, [tuple(app) for app in apps],
                        "another sync is calling the service: the catalogue follows when it ends" if busy
                        else row.last_error)
