"""E-mail: SMTP settings, message kinds and their templates, the durable outbox and its worker job.

A message is rendered and queued in the transaction of whatever caused it (``outbox.queue``); the
worker's ``deliver`` job sends it. Delivery is at least once: see docs/decisions.md.
"""
