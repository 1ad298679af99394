"""Checking configuration profiles against Apple's User Enrollment rules before they are deployed."""
from __future__ import annotations

from flask import current_app, request

from mdm_core import cms, mobileconfig
from mdm_core.capabilities import ENROLLMENT_TYPES, Problem
from mdm_core.mobileconfig import EncryptedProfileError, MobileconfigError, OversizedProfileError
from mdm_core.profile_check import TOP_LEVEL_TYPE, ProfileReport

from ..errors import api_error
from ..request_body import bounded_body
from . import bp
from .auth import require_scope


@bp.post("/profiles/check")
@require_scope("read")
def check_uploaded_profile():
    """The checker's report on the bytes, read as the library's upload reads them (``mobileconfig.decode``): the
    same bytes get the same ``problems`` here as ``POST /profiles`` answers (a signature that does not verify is a
    warning), and past the decoder's limit the same 413. An encrypted profile is a profile no one can check or
    send: 200 with that error, where the library refuses it (422)."""
    enrollment_type = request.args.get("enrollment_type", "user")
    if enrollment_type not in ENROLLMENT_TYPES:
        return api_error(400, "bad_request", f"enrollment_type must be one of {', '.join(ENROLLMENT_TYPES)}")
    data = bounded_body(request, limit := current_app.config["MAX_CONTENT_LENGTH"])
    if data is None:
        return api_error(413, "request_entity_too_large", f"the body is larger than {limit} bytes")
    if not data:
        return api_error(400, "not_a_profile", "send the bytes of a .mobileconfig as the request body")
    try:
        decoded = mobileconfig.decode(data)
    except OversizedProfileError as exc:
        return api_error(413, "too_large", str(exc))
    except EncryptedProfileError as exc:
        report = ProfileReport(False, "forbidden", [Problem("error", None, str(exc), TOP_LEVEL_TYPE)])
        return {**report.to_dict(), "signed": cms.is_cms(data)}
    except MobileconfigError as exc:
        return api_error(400, "not_a_profile", str(exc))
    return {**mobileconfig.check(decoded, enrollment_type).to_dict(), "signed": decoded.signature is not None}
