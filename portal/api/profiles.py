"""Checking configuration profiles against Apple's User Enrollment rules before they are deployed."""
from __future__ import annotations

from flask import current_app, request

from mdm_core.capabilities import ENROLLMENT_TYPES
from mdm_core.profile_check import ProfileCheckError, check_profile, decode_profile

from ..errors import api_error
from ..request_body import bounded_body
from . import bp
from .auth import require_scope


@bp.post("/profiles/check")
@require_scope("read")
def check_uploaded_profile():
    enrollment_type = request.args.get("enrollment_type", "user")
    if enrollment_type not in ENROLLMENT_TYPES:
        return api_error(400, "bad_request", f"enrollment_type must be one of {', '.join(ENROLLMENT_TYPES)}")
    data = bounded_body(request, limit := current_app.config["MAX_CONTENT_LENGTH"])
    if data is None:
        return api_error(413, "request_entity_too_large", f"the body is larger than {limit} bytes")
    if not data:
        return api_error(400, "not_a_profile", "send the bytes of a .mobileconfig as the request body")
    try:
        profile, signed = decode_profile(data)
        report = check_profile(profile, enrollment_type)
    except ProfileCheckError as exc:
        return api_error(400, "not_a_profile", str(exc))
    return {**report.to_dict(), "signed": signed}
