"""Offboarding: when a person leaves (deactivated or deleted by directory sync, or by an admin), the
organisation leaves their phones, and they can no longer sign in or enroll.

``offboard`` runs every step of ``steps.STEPS`` (retire enrollments, revoke pending grants and account-driven
tokens, end sessions; the apps work adds license release there) and marks the person ``offboarded``;
``reactivate`` lifts the mark and cancels the retirement commands the phones have not fetched yet (a
RemoveProfile already sent cannot be undone). ``status`` feeds the dashboard.
"""
from .actions import offboard, reactivate

__all__ = ["offboard", "reactivate"]
