"""Zombie test: two enforcers in one group; one is frozen (SIGSTOP) past the session timeout while
the other takes over its partitions, then thawed. Its transaction carries the group generation it
was frozen in (KIP-447), so the broker refuses its input offsets and the transaction aborts; had
it nothing open, it gives its partitions up when it notices. No duplicate, nothing lost."""

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from tests.support.enforcer_runs import (
    PARTITIONS,
    all_input_committed,
    check_exactly_once,
    committed_input,
    prepare,
)

pytestmark = pytest.mark.slow
EVENTS, SUBJECTS = 20_000, 300
SESSION_TIMEOUT_S = 10  # the enforcer consumer's session.timeout.ms


async def test_frozen_enforcer_is_fenced_and_causes_no_duplicate(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    ingress = topic_factory("ingress", partitions=PARTITIONS)
    run = await prepare(kafka_broker, kafka_admin, ingress, tmp_path, EVENTS, SUBJECTS)
    first_log = tmp_path / "first.log"  # its own, to tell what the thawed instance did
    first, second = run.start("first", first_log), run.start("second")
    try:
        await asyncio.sleep(5)  # both joined and share the partitions, work under way
        first.send_signal(signal.SIGSTOP)
        done_at_freeze, total = await committed_input(run)
        assert done_at_freeze < total, (
            "all work was done before the freeze: the test proves nothing"
        )
        await asyncio.sleep(SESSION_TIMEOUT_S + 8)  # the group evicts it; the other takes over
        frozen_log_size = first_log.stat().st_size
        first.send_signal(signal.SIGCONT)
        for _ in range(600):
            if await all_input_committed(run):
                break
            assert second.poll() is None, run.log_tail()
            await asyncio.sleep(1)
        else:
            pytest.fail(f"not all input was processed; enforcer logs:\n{run.log_tail()}")
        # Read before it stops: stopping revokes whatever it holds then.
        thawed = await _given_up(first_log, frozen_log_size)
    finally:
        for process in (first, second):
            process.send_signal(signal.SIGCONT)
            process.terminate()
            process.wait(timeout=60)

    await check_exactly_once(run)
    tail = first_log.read_text(errors="replace")[-3000:]
    assert thawed, f"the thawed instance never logged giving up its partitions:\n{tail}"


async def _given_up(log: Path, since: int) -> str:
    """What the thawed instance logged once it gave up what it held, in one of three safe ways:
    its open transaction's offsets were refused for its old generation (the transaction aborts);
    it learned first that the group went on without it (lost); or, frozen between transactions,
    it had nothing open and its partitions were revoked at its rejoin. Empty if none in 60 s."""
    for _ in range(60):
        text = (await asyncio.to_thread(log.read_bytes))[since:].decode(errors="replace")
        refused = any(e in text for e in ("ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED"))
        if refused or "partitions lost" in text or "revoked [" in text:
            return text
        await asyncio.sleep(1)
    return ""
