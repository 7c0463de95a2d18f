"""Process-wide logging: one JSON object per line for services (what log pipelines ingest), or
plain text for a person at a terminal. Fields passed with `extra=` (event_id, …) become keys."""

import logging
import sys
from enum import StrEnum

from pythonjsonlogger.json import JsonFormatter


class LogFormat(StrEnum):
    """How log lines are written: JSON for services, text for a person at a terminal."""

    JSON = "json"
    TEXT = "text"


def configure_logging(log_format: LogFormat = LogFormat.JSON, level: int = logging.INFO) -> None:
    """Send every log record to stderr in `log_format` from `level` up; replaces the root
    logger's handlers, so calling it again changes the format rather than doubling the lines."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{message}",
                style="{",
                timestamp=True,
                rename_fields={"levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every rebalance step at INFO; its warnings and errors are what matter here.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
