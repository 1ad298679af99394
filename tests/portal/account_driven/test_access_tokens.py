"""Account-Driven enrollment access tokens: single use, and expired unused ones do not pile up."""
from datetime import timedelta

from sqlalchemy import select

from portal.account_driven.tokens import consume_access_token, issue_access_token
from portal.extensions import db
from portal.models import EndUser, EnrollmentAccessToken
from portal.models.base import utcnow


def _user() -> EndUser:
    user = EndUser(issuer="https://idp.example.org", subject="u1", managed_apple_id="ana@example.org")
    db.session.add(user)
    db.session.flush()
    return user


def test_issuing_a_token_deletes_tokens_that_expired_unused_and_keeps_the_rest(app_ctx):
    user = _user()
    _, expired = issue_access_token(user, "iPhone15,2")
    used_token, used = issue_access_token(user, "iPhone15,2")
    _, fresh = issue_access_token(user, "iPhone15,2")
    assert consume_access_token(used_token) is not None
    expired.expires_at = used.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    ids = {"expired": expired.id, "used": used.id, "fresh": fresh.id}

    issue_access_token(user, "iPhone15,2")
    db.session.commit()

    remaining = set(db.session.scalars(select(EnrollmentAccessToken.id)))
    assert ids["expired"] not in remaining
    assert {ids["used"], ids["fresh"]} <= remaining  # a used token is bound to its enrollment for good


def test_a_token_is_consumed_once(app_ctx):
    token, _ = issue_access_token(_user(), None)
    db.session.commit()
    assert consume_access_token(token) is not None
    assert consume_access_token(token) is None
