"""Apple's Apps and Books for Organizations API (VPP License Management 2.0): the content token,
the client, and a local stand-in for tests, demos and benchmarks.

Interface change from the brief: the write calls (``create_users``, ``update_users``,
``retire_users``, ``associate_assets``, ``disassociate_assets``) return ``list[str]``, one event id
per batch the client split the input into (the service config's limits), and
``wait_for_event`` takes one event id or that list and answers one merged ``EventStatus``.
"""
