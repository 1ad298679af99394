"""Rate limits per client address and per account, counted in the database (shared by every node).

``quotas`` says how many requests each limit allows, ``counter`` counts them, ``guard`` applies them:
one ``before_request`` hook for the endpoints it lists, and ``record_failure`` where only failures count.
"""
