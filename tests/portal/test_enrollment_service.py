"""The steps both enrollment flows share, through the service's public functions."""
import pytest
from sqlalchemy import func, select

from mdm_core import cms, plist
from mdm_core.enrollment_profiles import EnrollmentProfileError
from portal.account_driven.tokens import issue_access_token
from portal.enrollment_service import (DISCLOSURE_CHANGED, NOT_TICKED, PrivacyNotAcknowledged, acknowledge_privacy,
                                       has_acknowledged, mint_enrollment_profile, record_refusal)
from portal.extensions import db
from portal.models import AuditEvent, EndUser, EnrollmentAccessToken, EnrollmentGrant, PrivacyAcknowledgement
from portal.settings_store import load_enrollment_settings, update_enrollment_settings


@pytest.fixture
def user(app_ctx):
    row = EndUser(issuer="https://idp.example.org", subject="ana", managed_apple_id="ana@example.org")
    db.session.add(row)
    db.session.commit()
    return row


def _form(**fields):
    return {"version": load_enrollment_settings().privacy_disclosure_version, "acknowledge": "yes", **fields}


def _events(action: str) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_acknowledgement_keeps_the_text_as_shown_and_is_audited_with_its_method(user):
    settings = load_enrollment_settings()
    assert not has_acknowledged(user, settings)
    acknowledge_privacy(user, "account_driven", settings, _form(), "192.0.2.7")
    db.session.rollback()  # committed by the service, not left pending
    row = db.session.scalar(select(PrivacyAcknowledgement))
    assert (row.user_id, row.disclosure_version, row.remote_addr) == (user.id, settings.privacy_disclosure_version,
                                                                      "192.0.2.7")
    assert row.disclosure_text == settings.privacy_disclosure
    [event] = _events("enrollment.privacy_acknowledged")
    assert event.detail == {"disclosure_version": settings.privacy_disclosure_version, "method": "account_driven"}
    assert has_acknowledged(user, settings)


@pytest.mark.parametrize("fields, message, status", [
    ({"version": "an older text"}, DISCLOSURE_CHANGED, 409),
    ({"version": None}, DISCLOSURE_CHANGED, 409),
    ({"acknowledge": None}, NOT_TICKED, 400),
    ({"acknowledge": "on"}, NOT_TICKED, 400),
])
def test_a_form_that_does_not_acknowledge_the_current_text_records_nothing(user, fields, message, status):
    form = {k: v for k, v in _form(**fields).items() if v is not None}
    with pytest.raises(PrivacyNotAcknowledged) as refused:
        acknowledge_privacy(user, "profile_driven", load_enrollment_settings(), form, None)
    assert (str(refused.value), refused.value.status) == (message, status)
    db.session.rollback()
    assert _count(PrivacyAcknowledgement) == 0 and _count(AuditEvent) == 0


def test_a_changed_disclosure_asks_again(user):
    acknowledge_privacy(user, "profile_driven", load_enrollment_settings(), _form(), None)
    update_enrollment_settings({"privacy_disclosure": "IT can now see more."})
    db.session.commit()
    assert not has_acknowledged(user, load_enrollment_settings())


def test_a_profile_downloaded_by_the_employee_names_them_and_is_audited_as_theirs(user):
    signed = mint_enrollment_profile(user, "profile_driven")
    db.session.rollback()
    profile = plist.loads(cms.verify(signed).content)
    mdm = next(p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.mdm")
    assert "ana@example.org" in mdm.values()
    grant = db.session.scalar(select(EnrollmentGrant))
    assert (grant.enrollment_method, grant.user_id, grant.created_by) == ("profile_driven", user.id, "user:ana@example.org")
    [event] = _events("enrollment_profile.minted")
    assert (event.actor_type, event.actor, event.target_id) == ("user", "ana@example.org", str(grant.id))
    assert event.detail == {"method": "profile_driven", "managed_apple_id": "ana@example.org"}


def test_a_profile_fetched_with_an_access_token_binds_the_token_and_is_audited_as_the_phones(user):
    _, token = issue_access_token(user, "iPhone17,2")
    mint_enrollment_profile(user, "account_driven", access_token=token,
                            device={"product": "iPhone17,2", "version": "22B83"})
    db.session.rollback()
    grant = db.session.scalar(select(EnrollmentGrant))
    assert grant.enrollment_method == "account_driven"
    assert db.session.scalar(select(EnrollmentAccessToken.grant_id)) == grant.id
    [event] = _events("enrollment_profile.minted")
    assert (event.actor_type, event.actor) == ("device", "ana@example.org")
    assert event.detail == {"method": "account_driven", "managed_apple_id": "ana@example.org",
                            "product": "iPhone17,2", "version": "22B83"}


def test_an_account_that_cannot_be_written_in_a_profile_keeps_nothing(app_ctx):
    user = EndUser(issuer="https://idp.example.org", subject="odd", managed_apple_id="not an address")
    db.session.add(user)
    db.session.commit()
    with pytest.raises(EnrollmentProfileError):
        mint_enrollment_profile(user, "profile_driven")
    assert _count(EnrollmentGrant) == 0 and _count(AuditEvent) == 0


def test_a_refusal_is_audited_for_a_known_user_and_for_nobody(user):
    record_refusal(user, "profile_driven", "group_not_allowed")
    record_refusal(None, "account_driven", "request_expired")
    db.session.rollback()
    assert [(e.target_type, e.target_id, e.detail) for e in _events("enrollment.refused")] == [
        ("end_user", str(user.id), {"method": "profile_driven", "reason": "group_not_allowed"}),
        (None, None, {"method": "account_driven", "reason": "request_expired"}),
    ]
