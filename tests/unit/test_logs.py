"""Service logs are one JSON object per line, with the fields passed as `extra` (the event id)."""

import json
import logging

import pytest

from bus.util.logs import LogFormat, configure_logging


def test_json_lines_carry_the_event_id(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(LogFormat.JSON)
    try:
        logging.getLogger("bus.enforcer.service").warning(
            "event quarantined: %s", "MALFORMED", extra={"event_id": "0193-abc"}
        )
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    record = json.loads(line)
    assert record["event_id"] == "0193-abc"
    assert record["message"] == "event quarantined: MALFORMED"
    assert record["level"] == "WARNING"
    assert record["logger"] == "bus.enforcer.service"
    assert record["timestamp"].endswith("+00:00")
