"""Configuration profiles: the library (``library``), each device's desired state (``desired``),
turning it into commands (``delivery``) and reading the devices' answers back (``results``)."""
