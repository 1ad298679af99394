"""Credential assets this server serves (``com.apple.asset.credential.userpassword`` and ``.identity``).

The admin's credential document (``mdm_core.ddm.assets``) is sealed at rest with the project's one sealing
helper (``portal.secret_box``), under a purpose naming the declaration so a sealed value copied to another
row does not open, and is never shown back. The payload's ``Reference.DataURL`` is
``/mdm/ddm/credentials/<identifier>`` with ``Authentication`` ``MDM``: the device fetches it as an MDM
request, proven by its identity certificate as a check-in is (``portal.mdm.declarative``), and gets it only
while the asset is in its set, with its person's values filled in the user name.

The URL carries ``version``, a keyed digest of the credential: the payload, and so the ServerToken, moves
when the credential changes (and only then), and nothing about the secret can be learnt from it.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mdm_core import bounded_json
from mdm_core.ddm.assets import CREDENTIAL_CONTENT_TYPE, credential_document, variable_part
from mdm_core.ddm.declarations import canonical_json, is_identifier
from mdm_core.profile_variables import VariableError, substitute, used_variables

from ..models import Declaration, DeclarationAssignment
from ..secret_box import app_secret, seal, unseal
from .served import url_for_path
from ..person_values import values_of

_declarations = Declaration.__table__
_assignments = DeclarationAssignment.__table__
#: The sealed credential of one asset in one device's set.
_IN_SET = (select(_declarations.c.type, _declarations.c.credential_sealed, _declarations.c.variables)
           .join(_assignments, _assignments.c.declaration_id == _declarations.c.id)
           .where(_assignments.c.device_id == bindparam("device_id"),
                  _declarations.c.identifier == bindparam("identifier"),
                  _declarations.c.credential_sealed.isnot(None)))


class NotServed(LookupError):
    """The device may not have this credential (not in its set), or it cannot be served; the message says which."""


def _purpose(identifier: str) -> str:
    return f"ddm-credential:{identifier}"


def seal_credential(identifier: str, credential: dict[str, Any]) -> str:
    return seal(canonical_json(credential).decode(), _purpose(identifier))


def unseal_credential(identifier: str, sealed: str) -> dict[str, Any] | None:
    """The stored credential, or None when it was sealed under another SECRET_KEY (it must be entered again)."""
    text = unseal(sealed, _purpose(identifier))
    return None if text is None else bounded_json.loads(text)


def credential_variables(asset_type: str, credential: dict[str, Any]) -> set[str]:
    """The variables the credential is filled in with per device (its ServerToken is then per device too)."""
    return used_variables(variable_part(asset_type, credential))


def credential_payload(identifier: str, payload: dict[str, Any], credential: dict[str, Any]) -> dict[str, Any]:
    """The payload with this server's ``Reference`` and ``Authentication`` (the rest, such as ``Accessible``, kept)."""
    version = hmac.new(app_secret(), b"ddm-credential-version\n" + identifier.encode() + b"\n"
                       + canonical_json(credential), hashlib.sha256).hexdigest()[:16]
    return {**payload, "Authentication": {"Type": "MDM"},
            "Reference": {"DataURL": f"{url_for_path('credentials', identifier)}?version={version}",
                          "ContentType": CREDENTIAL_CONTENT_TYPE}}


def credential_for(session: Session, identifier: str, device_id: int) -> bytes:
    """The credential document for a device proven by its MDM identity; NotServed when its set does not hold
    the asset (another enrollment's included, or ``identifier`` is none this server issues: a NUL in one failed
    PostgreSQL's text, a 500) or the credential cannot be opened or filled in for it."""
    row = session.execute(_IN_SET, {"device_id": device_id, "identifier": identifier}).first() \
        if is_identifier(identifier) else None
    if row is None:
        raise NotServed(f"no credential {identifier} in this enrollment's set")
    credential = unseal_credential(identifier, row.credential_sealed)
    if credential is None:
        raise NotServed(f"the credential {identifier} was sealed under another SECRET_KEY: an admin must enter it again")
    values = values_of(session, [device_id]).get(device_id, {}) if row.variables else {}
    try:
        return credential_document(row.type, credential, lambda keys: substitute(keys, values))
    except VariableError as exc:
        raise NotServed(f"{identifier} cannot be filled in for this enrollment: {exc}") from None
