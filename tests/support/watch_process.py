"""`bus watch` as a child process on test topics of its own, and what it wrote to its alerts
topic."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from bus.kafka.connection import KafkaConnection
from bus.record.alert import Alert
from tests.support.child_processes import stop
from tests.support.kafka import read_topic

# Small windows and floors, so that a test provokes each rule with a few dozen records.
TEST_THRESHOLDS = {
    "bulk_release": {"window_seconds": 3600, "history_windows": 3, "factor": 5, "floor": 20},
    "probing": {"window_seconds": 3600, "history_windows": 3, "factor": 5, "floor": 10},
    "quarantine_burst": {"window_seconds": 3600, "history_windows": 3, "factor": 5, "floor": 5},
    "person_spread": {"window_seconds": 3600, "max_consumers": 3},
    "person_denials": {"window_seconds": 3600, "max_denials": 4},
    "silent_producer": {"silence_seconds": 4, "history_windows": 2, "min_records": 5},
}


@dataclass
class WatchRun:
    """Where a test's watch reads and writes, and how to start it."""

    app_id: str
    audit_topic: str
    alerts_topic: str
    thresholds: Path
    profile: Path
    log: Path

    def start(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "watch",
            "--app-id",
            self.app_id,
            "--audit-topic",
            self.audit_topic,
            "--alerts-topic",
            self.alerts_topic,
            "--thresholds",
            str(self.thresholds),
            "--profile",
            str(self.profile),
            "--metrics-port",
            "0",
            "--log-format",
            "text",
        ]
        with self.log.open("ab") as log:
            return subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
            )

    @contextmanager
    def running(self) -> Iterator[subprocess.Popen[bytes]]:
        process = self.start()
        try:
            yield process
        finally:
            stop(process)


def write_thresholds(path: Path, **overrides: dict[str, float]) -> Path:
    path.write_text(yaml.safe_dump({**TEST_THRESHOLDS, **overrides}))
    return path


async def alerts_on(connection: KafkaConnection, topic: str) -> dict[str, Alert]:
    """The newest alert under each key (as compaction keeps it)."""
    alerts: dict[str, Alert] = {}
    for record in await read_topic(connection, topic, idle_s=1.0):
        assert record.key is not None
        assert record.value is not None
        alert = Alert.from_json_bytes(record.value)
        assert record.key.decode() == alert.key
        alerts[alert.key] = alert
    return alerts


async def wait_for_alerts(
    connection: KafkaConnection, topic: str, rule: str, count: int = 1, timeout_s: float = 90.0
) -> dict[str, Alert]:
    """The alerts of `rule` once at least `count` are there; AssertionError after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = {k: a for k, a in (await alerts_on(connection, topic)).items() if a.rule == rule}
        if len(found) >= count:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"{len(found)} {rule} alert(s) after {timeout_s} s, wanted {count}"
            )
        await asyncio.sleep(1.0)
