"""Scope: which devices an item (a profile; later an app or a declaration) is for.

Targets (``portal.models.scope``), groups from sign-in, smart groups over inventory, and one SQL
statement that resolves a scope to device ids (``resolve``), for reconciliation and previews alike.
"""
