"""`bus demo`, the README's first command after setup, as a user runs it: exit 0 only if every
expectation of the scenario held (each is printed with ✓ or ✗)."""

import subprocess
import sys
from pathlib import Path

from bus.kafka.connection import KafkaConnection

BUS = Path(sys.executable).parent / "bus"


def test_the_demo_scenario_holds_end_to_end(kafka_broker: KafkaConnection) -> None:
    done = subprocess.run(
        [str(BUS), "demo", "--timeout", "120"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    assert "every expectation held" in done.stdout
    assert "✗" not in done.stdout
    # The scenario's parts all show up: refusal, quarantine, block, jurisdiction, need to know.
    shown = (
        "PURPOSE_MISMATCH",
        "UNKNOWN_KEY",
        "DISCLOSURE_BLOCKED",
        "OUT_OF_JURISDICTION",
        "NO_INTEREST",
    )
    for reason in shown:
        assert reason in done.stdout
