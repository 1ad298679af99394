"""Declarative Device Management: the protocol half, free of Flask and of the portal.

- :mod:`~mdm_core.ddm.tables`: declaration types and status items from Apple's schemas.
- :mod:`~mdm_core.ddm.declarations`: validate a declaration, its server token, its JSON document.
- :mod:`~mdm_core.ddm.documents`: the tokens and manifest documents, the ``DeclarativeManagement``
  command, and the check-in ``Endpoint`` parser.
- :mod:`~mdm_core.ddm.status`: read a status report (keeping only what User Enrollment allows), the
  status subscriptions the server asks for, and the inventory facts a report carries.
"""
from __future__ import annotations


class DdmError(ValueError):
    """A DDM message or document the server does not accept; the message says why (a 4xx, never a 5xx)."""
