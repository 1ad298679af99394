"""What this server serves to a DDM device beside declarations: the library profile a legacy-profile
configuration wraps (``ProfileURL``), and the bytes of a data or certificate asset (``Reference.DataURL``).

An asset's ``DataURL`` is ``/mdm/ddm/assets/<identifier>`` with ``Authentication`` ``MDM``: the device fetches it
as an MDM request, proven by its identity certificate as a check-in is (``portal.mdm.declarative``), and gets
the bytes only while the asset is in its set; the declaration is the same for every device (stored shared).
A legacy profile's ``ProfileURL`` cannot say how to authenticate (Apple's schema has no such key), so the copy
each device fetches carries its device id and a key (an HMAC under the app's secret of the URL's path and the
device): only that device's URL opens it, and only while the declaration is in its set. The key is the same at
every fetch, so the declaration's ServerToken stays that of its content. Assets declared before they were
fetched over MDM named such a URL too; it still answers (``keyed_asset_for``) while a device may hold one.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm_core.ddm.assets import CERTIFICATE, DATA, AssetDataError, data_content_type
from mdm_core.ddm.declarations import is_identifier

from ..models import Declaration, DeclarationAssignment, Device, Profile
from ..models.device import DeviceStatus
from ..profiles.delivery import signed_for

#: Asset types whose bytes this server can serve (``mdm_core.ddm.assets`` checks the bytes and their type).
SERVED_ASSETS = (DATA, CERTIFICATE)
MAX_ASSET_BYTES = 1024 * 1024
MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]{0,63}/[A-Za-z0-9][\w.+-]{0,63}")


class ServedDataError(ValueError):
    """The asset's ``data`` is not base64 of at most ``MAX_ASSET_BYTES``."""


def url_for_path(kind: str, identifier: str) -> str:
    """The stored URL of a served item (``kind``: ``legacy`` or ``assets``)."""
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/mdm/ddm/{kind}/{identifier}"


def _key(path: str, device_id: int) -> str:
    return hmac.new(current_app.secret_key.encode(), f"ddm-served\n{path}\n{device_id}".encode(),
                    hashlib.sha256).hexdigest()


def device_url(url: str, device_id: int) -> str:
    """The stored URL with this device's credential."""
    path = "/".join(url.rsplit("/", 2)[-2:])
    return f"{url}?device={device_id}&key={_key(path, device_id)}"


def read_asset_data(text: Any) -> bytes:
    """The bytes the API sends (base64) or a page's upload (bytes), or ServedDataError."""
    if isinstance(text, bytes):
        data = text
        if len(data) > MAX_ASSET_BYTES:
            raise ServedDataError(f"the file is larger than {MAX_ASSET_BYTES // 1024} KiB")
    elif not isinstance(text, str) or len(text) > MAX_ASSET_BYTES * 4 // 3 + 4:
        raise ServedDataError(f"data must be base64 of at most {MAX_ASSET_BYTES} bytes")
    else:
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ServedDataError("data is not base64") from None
    if not data:
        raise ServedDataError("data is empty")
    return data


def asset_payload(kind_type: str, identifier: str, payload: dict[str, Any], data: bytes) -> dict[str, Any]:
    """The payload with the server's ``Reference`` (URL, size, hash) and ``Authentication`` for ``data``."""
    reference = payload.get("Reference") if isinstance(payload.get("Reference"), dict) else {}
    content_type = reference.get("ContentType") or None
    if content_type is not None and (not isinstance(content_type, str) or not MEDIA_TYPE.fullmatch(content_type)):
        raise ServedDataError("Reference.ContentType must be a media type such as text/plain")
    try:
        content_type = data_content_type(kind_type, data, content_type)
    except AssetDataError as exc:
        raise ServedDataError(str(exc)) from None
    return {**payload, "Authentication": {"Type": "MDM"},
            "Reference": {"DataURL": url_for_path("assets", identifier), "ContentType": content_type,
                          "Size": len(data), "Hash-SHA-256": hashlib.sha256(data).hexdigest()}}


def _in_set(identifier: str, device_id: int, key: str, kind: str) -> Any:
    """The condition that the device holds the declaration, once its key checked out; None otherwise."""
    if not hmac.compare_digest(key, _key(f"{kind}/{identifier}", device_id)):
        return None
    return (Declaration.identifier == identifier, Device.id == device_id, Device.status == DeviceStatus.ENROLLED)


def _joined(statement):
    return (statement.join(DeclarationAssignment, DeclarationAssignment.declaration_id == Declaration.id)
            .join(Device, Device.id == DeclarationAssignment.device_id))


def profile_for(session: Session, identifier: str, device_id: int, key: str) -> bytes | None:
    """The signed profile, or None when the key is not that device's or the declaration is not in its set."""
    conditions = _in_set(identifier, device_id, key, "legacy")
    if conditions is None:
        return None
    row = session.execute(_joined(select(Profile, Device).join(Declaration, Declaration.profile_id == Profile.id))
                          .where(*conditions)).first()
    return None if row is None else signed_for(session, *row)


def asset_for(session: Session, identifier: str, device_id: int) -> tuple[bytes, str] | None:
    """The asset's bytes and content type for a device whose MDM identity proved it; None when its set does not
    hold the asset (or ``identifier`` is none this server issues: a NUL in one failed PostgreSQL's text, a 500)."""
    if not is_identifier(identifier):
        return None
    return _asset(session, (Declaration.identifier == identifier, Device.id == device_id))


def keyed_asset_for(session: Session, identifier: str, device_id: int, key: str) -> tuple[bytes, str] | None:
    """The same for the per-device URL assets named before ``Authentication`` ``MDM``; None as for ``profile_for``."""
    conditions = _in_set(identifier, device_id, key, "assets")
    return None if conditions is None else _asset(session, conditions)


def _asset(session: Session, conditions: tuple) -> tuple[bytes, str] | None:
    row = session.execute(_joined(select(Declaration.asset_data, Declaration.payload))
                          .where(Declaration.asset_data.isnot(None), *conditions)).first()
    if row is None:
        return None
    return row.asset_data, row.payload["Reference"]["ContentType"]
