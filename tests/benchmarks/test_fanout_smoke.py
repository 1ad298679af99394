"""The fan-out benchmark end to end at a small scale, so a change that breaks it fails here: 20
devices on SQLite behind gunicorn, the push worker and the APNs stand-in each in its own process."""
from benchmarks.fanout import markdown, parse_args, run

DEVICES = 20


def test_every_device_wakes_on_its_push_and_acknowledges_the_bulk_command(tmp_path):
    argv = ["--devices", str(DEVICES), "--clients", "1", "--threads", "2", "--timeout", "60", "--out", str(tmp_path)]
    report = run(parse_args(argv), argv)
    phase = report["phase"]
    assert (phase["errors"], phase["error_samples"]) == (0, [])
    assert phase["queued"] == phase["served"] == DEVICES
    assert report["progress"]["acknowledged"] == DEVICES
    assert phase["pushes_accepted"] >= DEVICES and phase["pushes_received_by_devices"] >= DEVICES
    assert 0 < phase["push_to_ack_ms"]["p50"] <= phase["push_to_ack_ms"]["max"]
    assert 0 < phase["api_call_s"] <= phase["seconds_to_last_ack"]
    assert phase["device_requests"] >= 2 * DEVICES  # Idle, then the answer that finds the queue empty
    assert phase["goal_met"]
    assert f"N={DEVICES}" in markdown(report)
