"""Migration from legacy device enrollment (deprecated Personal Device Profiles) to User Enrollment.

``state`` derives where each legacy device stands; ``actions`` records what the admin and the
employee do (notify, see the notice, send the un-enrollment).
"""
