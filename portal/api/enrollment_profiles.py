"""Minting enrollment profiles for automation and tests (DESIGN.md section 6)."""
from __future__ import annotations

from flask import Response, g, request

from mdm_core.enrollment_profiles import EnrollmentProfileError, check_managed_apple_id

from .. import audit
from ..enrollment_grants import PROFILE_CONTENT_TYPE, mint_profile
from ..errors import api_error
from ..extensions import db
from . import bp
from .auth import require_scope

_METHOD_BY_TYPE = {"user": "profile_driven", "device": "legacy"}


@bp.post("/enrollment-profiles")
@require_scope("enroll")
def create_enrollment_profile():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return api_error(400, "bad_request", 'send JSON {"enrollment_type": "user"|"device", "managed_apple_id": "..."}')
    enrollment_type = payload.get("enrollment_type")
    managed_apple_id = payload.get("managed_apple_id")
    if not isinstance(enrollment_type, str) or enrollment_type not in _METHOD_BY_TYPE:
        return api_error(422, "invalid_enrollment_type", 'enrollment_type must be "user" or "device"')
    if not isinstance(managed_apple_id, str) or not managed_apple_id.strip():
        return api_error(422, "invalid_managed_apple_id", "managed_apple_id must be a non-empty string")
    try:
        # Managed Apple IDs are case-insensitive: kept lower-case, as sign-in keeps them, so the same
        # person's enrollments match however the ID was typed (migration tracking, device limits).
        # Checked for both types: a legacy profile does not carry the ID, but the grant stores it.
        managed_apple_id = check_managed_apple_id(managed_apple_id.strip().lower())
    except EnrollmentProfileError as exc:
        return api_error(422, "invalid_managed_apple_id", str(exc))
    try:
        profile, grant = mint_profile(_METHOD_BY_TYPE[enrollment_type], managed_apple_id,
                                      created_by=f"token:{g.api_token.name}")
    except EnrollmentProfileError as exc:
        db.session.rollback()
        return api_error(422, "profile_not_buildable", str(exc))
    audit.record("enrollment_profile.minted", target_type="enrollment_grant", target_id=grant.id,
                 detail={"enrollment_type": enrollment_type, "managed_apple_id": grant.managed_apple_id})
    db.session.commit()
    filename = "enrollment.mobileconfig"
    return Response(profile, status=201, content_type=PROFILE_CONTENT_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
