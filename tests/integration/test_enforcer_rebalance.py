"""Rebalance test: one enforcer worker starts on a load of 20,000 events, a second joins the
group mid-flow and takes partitions over, then the first leaves (SIGTERM) mid-flow and the second
takes everything. Each hand-over happens between transactions: every permitted event reaches
each consumer exactly once and in per-subject order, every decision is audited exactly once."""

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from tests.support.child_processes import ChildProcesses
from tests.support.enforcer_runs import (
    PARTITIONS,
    Run,
    all_input_committed,
    check_exactly_once,
    committed_input,
    prepare,
)

pytestmark = pytest.mark.slow
EVENTS, SUBJECTS = 20_000, 400


async def test_a_worker_joins_and_one_leaves_mid_flow_without_loss_or_duplicate(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    ingress = topic_factory("ingress", partitions=PARTITIONS)
    run = await prepare(kafka_broker, kafka_admin, ingress, tmp_path, EVENTS, SUBJECTS)
    with ChildProcesses() as children:
        first = children.track(run.start("first"))
        await _progress(run)
        second = children.track(run.start("second"))
        await _until_logged(run, r"second INFO \S+ assigned \['")  # it holds partitions
        await _progress(run)
        first.terminate()  # leaves the group after its open transaction
        assert first.wait(timeout=60) == 0, run.log_tail()
        done, total = await committed_input(run)
        assert done < total, "the load was processed before the first worker left: raise EVENTS"
        for _ in range(600):
            if await all_input_committed(run):
                break
            assert second.poll() is None, run.log_tail()
            await asyncio.sleep(1)
        else:
            pytest.fail(f"not all input was processed; enforcer logs:\n{run.log_tail()}")

    await check_exactly_once(run)
    log = run.log.read_text()
    # The second took every partition once the first had gone.
    everything = sorted(f"{ingress}/{p}" for p in range(PARTITIONS))
    assert f"second INFO bus.enforcer.service assigned {everything}" in log, run.log_tail()


async def _progress(run: Run) -> None:
    """Wait until the group commits more input than now, with input still left."""
    before, _total = await committed_input(run)
    for _ in range(300):
        done, total = await committed_input(run)
        if done > before:
            assert done < total, "the load was processed too early: raise EVENTS"
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"no progress; enforcer logs:\n{run.log_tail()}")


async def _until_logged(run: Run, pattern: str, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 5)):
        if re.search(pattern, run.log.read_text(errors="replace")):
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"{pattern!r} not logged; enforcer logs:\n{run.log_tail()}")
