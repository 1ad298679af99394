"""Checking configuration profiles against Apple's User Enrollment rules before they are deployed."""
from __future__ import annotations

from flask import request

from mdm_core.capabilities import ENROLLMENT_TYPES
from mdm_core.profile_check import ProfileCheckError, check_profile, decode_profile

from ..errors import api_error
from . import bp
from .auth import require_scope


@bp.post("/profiles/check")
@require_scope("read")
def check_uploaded_profile():
    enrollment_type = request.args.get("enrollment_type", "user")
    if enrollment_type not in ENROLLMENT_TYPES:
        return api_error(400, "bad_request", f"enrollment_type must be one of {', '.join(ENROLLMENT_TYPES)}")
    data = request.get_data()
    if not data:
        return api_error(400, "not_a_profile", "send the bytes of a .mobileconfig as the request body")
    try:
        profile, signed = decode_profile(data)
        report = check_profile(profile, enrollment_type)
    except ProfileCheckError as exc:
        return api_error(400, "not_a_profile", str(exc))
    return {**report.to_dict(), "signed": signed}
