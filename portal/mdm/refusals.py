"""Why the device store refuses a check-in or a command report.

The store says what is wrong; the views (``portal.mdm.views``) say it in HTTP. Each value is
the text the device's refusal answer carries.
"""
from __future__ import annotations

from enum import Enum


class Refusal(Enum):
    # the request, whoever sends it
    WRONG_TOPIC = "Topic is not this server's push topic"
    COMMAND_NOT_SENT = "status for a command this enrollment was not sent"
    # the enrollment a request claims (the pin rule, ``portal.mdm.pinning``)
    UNKNOWN_ENROLLMENT = "unknown enrollment"
    CERTIFICATE_MISMATCH = "certificate does not match the enrollment it claims"
    REMOVED = "this enrollment was removed on the server"
    ACCESS_TOKEN = "access token missing or not this enrollment's"
    # Authenticate: whether the certificate may start or resume this enrollment
    CERTIFICATE_NOT_ISSUED = "certificate was not issued for an enrollment"
    ISSUED_FOR_USER_ENROLLMENT = "certificate was issued for a user enrollment"
    ISSUED_FOR_DEVICE_ENROLLMENT = "certificate was issued for a device enrollment"
    CERTIFICATE_TAKEN = "certificate already belongs to another enrollment"
    ENROLLMENT_ID_ENDED = "EnrollmentID belongs to an earlier enrollment"
    OTHER_CERTIFICATE = "enrollment is active with another certificate"
    DEVICE_LIMIT = "the user has reached the device limit"
    # Authenticate, and the TokenUpdate that completes the enrollment
    PERSON_OFFBOARDED = "the person this enrollment is for was offboarded"


#: Authenticate with a certificate issued for the other kind of enrollment, by the kind it was issued for.
ISSUED_FOR = {"user": Refusal.ISSUED_FOR_USER_ENROLLMENT, "device": Refusal.ISSUED_FOR_DEVICE_ENROLLMENT}
