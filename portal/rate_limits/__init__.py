"""Rate limits per client address and per account, counted in the database (shared by every node).

``portal.rate_limit_quotas`` says how many requests each limit allows (pure, so ``portal.config``
parses it without importing this package), ``counter`` counts them, ``guard`` applies them: one
``before_request`` hook for the endpoints it lists, and ``record_failure`` where only failures count.
"""
