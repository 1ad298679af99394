"""The demo's Apps and Books location: ``make run`` serves the stand-in (``mdm_core.vpp.standin --demo``) and
``demo-setup --vpp-token FILE`` loads its content token here, so an admin trying the demo finds a claimed
location and a catalogue with license counts at once.

Running it again changes nothing: the token is stored only when none is, or when the stored one is the same
organisation's (a renewal, which keeps apps, people and licenses); a token of another organisation (uploaded
by the admin) is left alone.

The stand-in keeps its location in ``instance/vpp-demo/``, claim included, so after the demo database is
deleted the location still names the server that database made. When the service is on this machine (a
loopback ``VPP_ENDPOINT``: the demo's own stand-in, never Apple's) demo-setup takes the location over, as an
admin would with Admin > Apps > take over, and says so; elsewhere it says who holds it and leaves the choice
to the admin.
"""
from __future__ import annotations

from dataclasses import dataclass

from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm_core.vpp.token import parse_content_token

from ..config import LOCAL_HOSTS
from ..models import App
from . import sync
from .tokens import claim_now, current_token, save_token, stoken

ACTOR = "demo-setup"


@dataclass(frozen=True)
class DemoLocation:
    """What the set-up did: ``loaded`` (the token was stored now), the organisation, the synced App Store
    apps as ``(adam_id, name, available, total)``, the service's error, if any, and the ``clientContext`` of
    the server the location was taken over from, if it was."""

    loaded: bool
    organization: str
    apps: list[tuple[str, str | None, int, int]]
    error: str | None = None
    taken_over_from: str | None = None


def service_is_local() -> bool:
    """``VPP_ENDPOINT`` is on this machine: the stand-in ``make run`` starts, whose location only demos use."""
    return urlsplit(current_app.config["VPP_ENDPOINT"]).hostname in LOCAL_HOSTS


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
    error = taken_over_from = None
    if row.claimed_at is None:
        claim = claim_now(session, row, take_over=service_is_local())
        if claim is None:
            error = row.last_error
        elif not claim.claimed:
            error = (f"another server manages this location ({claim.other_server[:200]}), so the catalogue stays "
                     "empty here; take it over on Admin > Apps > Apps and Books token if it is yours")
        else:
            taken_over_from = claim.replaced
    if error is None:
        busy = sync.run(session, sync_catalogue=True).get("busy")
        error = ("another sync is calling the service: the catalogue follows when it ends" if busy
                 else row.last_error)
    apps = session.execute(select(App.adam_id, App.name, App.licenses_available, App.licenses_total)
                           .where(App.source == "vpp", App.in_service.is_(True), App.deleted_at.is_(None))
                           .order_by(App.adam_id)).all()
    return DemoLocation(loaded, row.organization, [tuple(app) for app in apps], error, taken_over_from)
