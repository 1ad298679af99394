"""What devices reported, as the admin pages and the API show it."""
from datetime import datetime, timedelta, timezone

import pytest

from mdm_core import plist
from portal.device_reports import command_result, is_stale
from portal.models import Command, Device

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)


def test_a_commands_result_is_its_answer_without_the_envelope():
    report = {"Status": "Acknowledged", "CommandUUID": "c-1", "EnrollmentID": "E1", "UDID": "U1",
              "QueryResponses": {"OSVersion": "18.1"}}
    assert command_result(Command(result=plist.dumps(report))) == {"QueryResponses": {"OSVersion": "18.1"}}


def test_a_command_without_an_answer_has_no_result():
    assert command_result(Command(result=None)) is None


def test_a_result_stored_too_large_to_read_says_so_instead_of_failing():
    """Results stored before they were bounded (``mdm_core.results.stored_result``) may exceed what is read back."""
    report = {"Status": "Acknowledged", "CommandUUID": "c-1", "CertificateList": ["x" * 1024] * 5000}
    assert "cannot be shown" in command_result(Command(result=plist.dumps(report)))["NotKept"]


@pytest.mark.parametrize("status, seen_ago, stale", [
    ("enrolled", WEEK + timedelta(seconds=1), True),
    ("enrolled", WEEK, False),
    ("enrolled", None, False),
    ("pending", WEEK * 4, False),
    ("unenrolled", WEEK * 4, False),
])
def test_only_an_enrolled_device_not_seen_for_longer_than_the_setting_is_stale(status, seen_ago, stale):
    device = Device(status=status, last_seen_at=None if seen_ago is None else NOW - seen_ago)
    assert is_stale(device, WEEK, now=NOW) is stale
