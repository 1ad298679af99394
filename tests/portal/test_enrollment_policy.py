"""Who may enroll: method switch, domains, groups, device limit, each with its reason."""
import threading
import time
from datetime import timedelta

import pytest

from portal.enrollment_policy import PENDING_COUNTS_FOR, check_eligibility, device_limit_reached
from portal.extensions import db
from portal.models import Device, EndUser
from portal.models.base import utcnow
from portal.settings_store import EnrollmentSettings, update_enrollment_settings


@pytest.fixture
def user(app_ctx):
    row = EndUser(issuer="https://idp", subject="s1", managed_apple_id="ann@example.org", groups=["staff"])
    db.session.add(row)
    db.session.flush()
    return row


def _device(user, status, n, last_seen_ago=timedelta(minutes=1)):
    db.session.add(Device(enrollment_type="user", enrollment_method="profile_driven", enrollment_id=f"E{n}",
                          status=status, user_id=user.id, certificate_fingerprint=f"{n:064d}",
                          last_seen_at=utcnow() - last_seen_ago))
    db.session.flush()


def test_defaults_allow(user):
    assert check_eligibility(user, "profile_driven", EnrollmentSettings()).allowed


@pytest.mark.parametrize("settings, code", [
    (EnrollmentSettings(profile_driven_enabled=False), "method_disabled"),
    (EnrollmentSettings(allowed_domains=["corp.example"]), "domain_not_allowed"),
    (EnrollmentSettings(managed_domains=["corp.example"]), "domain_not_allowed"),
    (EnrollmentSettings(allowed_groups=["it"]), "group_not_allowed"),
])
def test_refusals_name_their_reason(user, settings, code):
    result = check_eligibility(user, "profile_driven", settings)
    assert (result.allowed, result.code) == (False, code) and result.reason


def test_allowed_domains_override_managed_domains(user):
    settings = EnrollmentSettings(managed_domains=["corp.example"], allowed_domains=["example.org"], allowed_groups=["staff"])
    assert check_eligibility(user, "profile_driven", settings).allowed


def test_device_limit_counts_enrolled_and_pending_only(user):
    settings = EnrollmentSettings(max_devices_per_user=2)
    _device(user, "enrolled", 1)
    _device(user, "unenrolled", 2)
    assert check_eligibility(user, "profile_driven", settings).allowed
    _device(user, "pending", 3)
    result = check_eligibility(user, "profile_driven", settings)
    assert result.code == "device_limit_reached" and "2 enrolled devices" in result.reason
    assert check_eligibility(user, "profile_driven", EnrollmentSettings(max_devices_per_user=None)).allowed


def test_a_pending_enrollment_counts_only_while_recent(user):
    """A phone that authenticated and then gave up (no TokenUpdate) must not block its user for ever."""
    settings = EnrollmentSettings(max_devices_per_user=1)
    _device(user, "pending", 1, last_seen_ago=PENDING_COUNTS_FOR + timedelta(minutes=1))
    assert check_eligibility(user, "profile_driven", settings).allowed
    _device(user, "pending", 2, last_seen_ago=PENDING_COUNTS_FOR - timedelta(minutes=5))
    assert check_eligibility(user, "profile_driven", settings).code == "device_limit_reached"


def test_an_enrolled_device_counts_however_long_ago_it_was_seen(user):
    _device(user, "enrolled", 1, last_seen_ago=timedelta(days=90))
    result = check_eligibility(user, "profile_driven", EnrollmentSettings(max_devices_per_user=1))
    assert result.code == "device_limit_reached"


def test_authenticate_time_limit_ignores_an_abandoned_pending_enrollment(user):
    update_enrollment_settings({"max_devices_per_user": 1})
    _device(user, "pending", 1, last_seen_ago=timedelta(hours=3))
    assert not device_limit_reached(user)
    _device(user, "enrolled", 2)
    assert device_limit_reached(user)


def test_account_driven_follows_its_own_switch(user):
    assert check_eligibility(user, "account_driven", EnrollmentSettings()).code == "method_disabled"
    assert check_eligibility(user, "account_driven", EnrollmentSettings(account_driven_enabled=True)).allowed


@pytest.mark.postgres_only("SQLite has no row locks")
def test_two_devices_of_one_user_authenticating_at_once_are_counted_one_after_the_other(app):
    """PostgreSQL: the first transaction holds the user's row until it commits its device, so
    the second counts after it, on its own connection, and sees that device."""
    with app.app_context():
        user = EndUser(issuer="https://idp", subject="s1", managed_apple_id="ann@example.org")
        db.session.add(user)
        update_enrollment_settings({"max_devices_per_user": 1})
        db.session.commit()
        user_id = user.id
    first_counted, first_may_commit = threading.Event(), threading.Event()
    results = {}

    def first():
        with app.app_context():
            results["first"] = device_limit_reached(db.session.get(EndUser, user_id))
            _device(db.session.get(EndUser, user_id), "pending", 1)
            first_counted.set()
            first_may_commit.wait(10)
            db.session.commit()

    def second():
        with app.app_context():
            results["second"] = device_limit_reached(db.session.get(EndUser, user_id))
            db.session.rollback()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    try:
        assert first_counted.wait(10)
        threads[1].start()
        with app.app_context():
            deadline = time.monotonic() + 10
            waiting = db.text("SELECT count(*) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND wait_event_type = 'Lock'")
            while not db.session.scalar(waiting):
                assert "second" not in results, "the second device was counted before the first committed"
                assert time.monotonic() < deadline, "the second count never waited for the first"
                db.session.rollback()
                time.sleep(0.01)
    finally:
        first_may_commit.set()
        for thread in threads:
            thread.join(10)
    assert results == {"first": False, "second": True}
