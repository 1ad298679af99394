"""Declarative Device Management: the protocol half, free of Flask and of the portal.

- :mod:`~mdm_core.ddm.tables`: declaration types and status items from Apple's schemas.
- :mod:`~mdm_core.ddm.declarations`: validate a declaration, its server token, its JSON document.
- :mod:`~mdm_core.ddm.documents`: the tokens and manifest documents, the ``DeclarativeManagement``
  command, and the check-in ``Endpoint`` parser.
- :mod:`~mdm_core.ddm.status`: read a status report (keeping only what User Enrollment allows), the
  status subscriptions the server asks for, and the inventory facts a report carries.

Interface note: a device fetches a declaration with ``declaration/<kind>/<identifier>``, the kind
being ``activation``, ``asset``, ``configuration`` or ``management`` (Apple's four declaration
endpoints), not the declaration's full type; so :func:`documents.parse_endpoint` returns
``Endpoint(name, kind, identifier)``. A declaration not in the device's set (or of another kind)
is Apple's ``404 Not Found``.
"""
from __future__ import annotations

#: Declaration types the server itself writes or reads, by their role.
ACTIVATION_TYPE = "com.apple.activation.simple"
SUBSCRIPTIONS_TYPE = "com.apple.configuration.management.status-subscriptions"
MANAGED_APP_TYPE = "com.apple.configuration.app.managed"


class DdmError(ValueError):
    """A DDM message or document the server does not accept; the message says why (a 4xx, never a 5xx)."""
