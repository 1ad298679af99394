import pytest

from mdm_core import queue


@pytest.mark.parametrize(
    ("report", "status"),
    [
        ("Acknowledged", "acknowledged"),
        ("Error", "error"),
        ("CommandFormatError", "error"),
        ("NotNow", "not_now"),
    ],
)
def test_report_status_maps_to_stored_status(report, status):
    assert queue.status_from_report(report) == status


@pytest.mark.parametrize("report", ["Idle", "acknowledged", "", None, "Done"])
def test_idle_or_unknown_report_is_not_a_command_result(report):
    with pytest.raises(queue.CommandStatusError):
        queue.status_from_report(report)


def test_only_acknowledged_and_error_are_final():
    assert [s for s in queue.STATUSES if queue.is_final(s)] == ["acknowledged", "error"]


def test_not_now_is_not_final_so_the_command_is_retried():
    assert not queue.is_final(queue.status_from_report("NotNow"))


def test_is_final_rejects_unknown_status():
    with pytest.raises(queue.CommandStatusError):
        queue.is_final("done")


def test_not_now_report_skips_not_now_commands_in_the_same_sequence():
    assert queue.skip_not_now("NotNow")
    assert queue.NOT_NOW not in queue.deliverable_statuses("NotNow")


@pytest.mark.parametrize("report", ["Idle", "Acknowledged", "Error", "CommandFormatError"])
def test_other_reports_offer_not_now_commands_again(report):
    assert not queue.skip_not_now(report)
    assert queue.deliverable_statuses(report) == {"queued", "sent", "not_now"}


def test_sent_but_unanswered_commands_stay_deliverable():
    assert "sent" in queue.deliverable_statuses("NotNow")


def test_skip_not_now_rejects_unknown_report():
    with pytest.raises(queue.CommandStatusError):
        queue.skip_not_now("Busy")


def test_idle_with_empty_queue_returns_zero_length_body():
    assert queue.response_for(None) == b""


def test_queued_command_is_returned_verbatim():
    body = b"<?xml version='1.0'?><plist><dict/></plist>"
    assert queue.response_for(("0C1D", body)) is body


def test_queued_command_with_empty_body_is_refused():
    with pytest.raises(queue.CommandStatusError):
        queue.response_for(("0C1D", b""))
