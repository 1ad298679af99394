"""The Apple MDM protocol as it applies to User Enrollment: no Flask, nothing from ``portal``.

Plain functions and dataclasses over property lists, certificates and HTTP/2 that the
web layer calls; every protocol rule lives here so it can be tested without a server.
"""
