"""Declarative Device Management, the portal's half: the declaration library (``library``, ``service``),
each device's declaration set from scope (``desired``, with the declarations the server writes itself
in ``generated``), the ``DeclarativeManagement`` command when a set changes (``sync``), the check-in's
endpoints (``endpoint``) and the status channel (``status``). The protocol lives in ``mdm_core.ddm``.
"""
