"""The demo's oversight watch: `bus watch` as its own process (its own principal and profile, as
an operator runs it), and the alert the demo provokes on purpose, read back as the auditors'
reader (audit-verifier)."""

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import ALERTS_TOPIC
from bus.record.alert import Alert, rfc3339

STOP_WAIT_S = 30.0


def start_watch(profile: Path, log_file: Path) -> subprocess.Popen[bytes]:
    """`bus watch` with the reference thresholds, logging to `log_file`."""
    command = [
        sys.executable,
        "-c",
        "from bus.cli.main import main; main()",
        "watch",
        "--profile",
        str(profile),
        "--metrics-port",
        "0",
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def stop_watch(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an operator stops it; killed if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_for_alert(
    reader: KafkaConnection,
    rule: str,
    subject: str,
    since: float,
    timeout_s: float,
    topic: str = ALERTS_TOPIC,
) -> Alert | None:
    """The newest alert of `rule` about `subject` whose window reaches past `since` (epoch
    seconds: not one a previous run raised), waiting up to `timeout_s`."""
    after = rfc3339(since)
    consumer = AIOKafkaConsumer(
        topic, **reader.aiokafka_kwargs(), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: Alert | None = None
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    alert = Alert.from_json_bytes(record.value or b"")
                    if alert.rule == rule and alert.subject == subject and alert.window_end > after:
                        found = alert
            if found is not None:
                return found
    finally:
        await consumer.stop()
    return found
