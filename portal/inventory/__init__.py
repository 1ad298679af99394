"""Device inventory: collecting it (sweep), storing it (records), finding devices (query), and
showing exactly what the server holds about a device (disclosure)."""
