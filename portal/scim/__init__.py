"""SCIM 2.0 service provider at ``/scim/v2`` (RFC 7643/7644): the organisation's directory (Entra ID,
Okta) provisions people and groups here with an API token holding the ``scim`` scope.

Models, filter and path parsing come from ``scim2-models``; filters become SQL (``filters``), so a
search never loads the directory into Python. People are ``EndUser`` rows and groups the scope's
``Group`` rows (memberships with source ``scim``), so sign-in and directory sync describe one person.
"""
from flask import Blueprint

bp = Blueprint("scim", __name__)

from . import auth, problems, routes  # noqa: E402,F401  (hooks and routes register on bp; the rest loads lazily)
