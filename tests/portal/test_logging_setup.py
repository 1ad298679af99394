"""Logs are structured in production (DESIGN section 7): LOG_FORMAT=json writes one JSON object a line."""
import json
import logging
from datetime import datetime

import pytest

from portal.logging_setup import configure_logging


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_format_writes_one_object_a_line_with_utc_time_fields_and_the_exception(root_logging, capsys):
    configure_logging("json")
    configure_logging("json")  # an app built twice keeps one handler
    log = logging.getLogger("portal.tests")
    log.info("device checked in\nwith a second line", extra={"device_id": 7})
    try:
        raise ValueError("bad plist")
    except ValueError:
        log.exception("report refused")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert (first["level"], first["logger"], first["device_id"]) == ("INFO", "portal.tests", 7)
    assert first["message"] == "device checked in\nwith a second line"
    assert datetime.fromisoformat(first["time"]).utcoffset().total_seconds() == 0
    assert second["level"] == "ERROR" and "ValueError: bad plist" in second["exception"]


def test_text_format_is_readable_lines(root_logging, capsys):
    configure_logging("text")
    logging.getLogger("portal.tests").warning("push certificate expires in %d days", 9)
    line, = capsys.readouterr().err.splitlines()
    assert line.endswith("WARNING portal.tests: push certificate expires in 9 days")
