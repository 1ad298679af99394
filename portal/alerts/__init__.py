"""Admin alerts: what is about to expire, what Apple refused, failures above a threshold.

The worker's ``alerts`` job checks each condition; an alert is stored once per crossing (its key) and
mailed once to every admin who has not turned that kind off; the dashboard lists those not dismissed.
"""
