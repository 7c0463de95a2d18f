"""Process-wide logging: one JSON object per line for services (what log pipelines ingest), or
plain text for a person at a terminal. Fields passed with `extra=` (event_id, …) become keys."""

import logging
import sys
from enum import StrEnum

from pythonjsonlogger.json import JsonFormatter


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


def configure_logging(log_format: LogFormat = LogFormat.JSON, level: int = logging.INFO) -> None:
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
