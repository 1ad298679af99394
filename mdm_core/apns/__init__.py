"""Apple Push Notification service for MDM: the push certificate, the HTTP/2 provider client,
and a local stand-in that speaks the same protocol for tests and demos."""
