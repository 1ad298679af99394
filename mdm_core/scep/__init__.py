"""SCEP (RFC 8894): how devices obtain their identity certificate from the built-in CA.

``server`` answers GetCACaps, GetCACert and PKIOperation; ``client`` enrolls against any
SCEP server (the device simulator and tests use it); ``message`` holds the pkiMessage
format both share.
"""
from .message import SCEPError

__all__ = ["SCEPError"]
