"""Managed apps: the content token (``tokens``), the catalogue (``catalogue``, ``configuration``), licenses per
person (``licenses``, worked through the Apps and Books service by ``sync``), each device's desired state
(``desired``), its commands (``delivery``) and the devices' answers (``results``)."""
