"""A back office killed with kill -9 mid-batch restarts without losing or double-applying any
event: handled-but-uncommitted deliveries come again, and the inbox skips them. On each of the
inbox's databases, SQLite and PostgreSQL, counted from that database.

Each kill lands while a batch is half done (the inbox is ahead of the group's committed offsets),
so the redelivery path is always exercised; the last run's counts are then known exactly."""

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import consumer_group_prefix
from tests.support.child_processes import ChildProcesses
from tests.support.deliveries import PURPOSE, TYPE, back_office_bus, moved_to_munich
from tests.support.inbox_databases import NO_TABLE, InboxDatabase
from tests.support.kafka import Principals

pytestmark = pytest.mark.slow
EVENTS, KILLS = 1_500, 3


def count(database: InboxDatabase, sql: str) -> tuple[int, ...]:
    try:
        return tuple(database.raw(sql)[0])
    except NO_TABLE:  # not created yet
        return (0, 0)


async def test_kill_9_mid_batch_loses_nothing_and_applies_nothing_twice(
    principals: Principals,
    kafka_admin: KafkaAdmin,
    kafka_broker: KafkaConnection,
    inbox_database: InboxDatabase,
    tmp_path: Path,
    children: ChildProcesses,
) -> None:
    bus = back_office_bus(principals, kafka_admin, kafka_broker)
    await bus.write(bus.deliveries([moved_to_munich() for _ in range(EVENTS)]))
    database = inbox_database
    config = tmp_path / "back-office.json"
    config.write_text(
        json.dumps(
            {
                **bus.connection.to_json_dict(),
                "consumer": bus.consumer,
                "producer_public_pem": bus.producer_key.public_pem().decode(),
                **database.process_config(),
                "purpose": PURPOSE,
                "event_type": TYPE,
            }
        )
    )
    log = tmp_path / "back-office.log"

    def start() -> "subprocess.Popen[bytes]":
        with log.open("ab") as out:
            return children.track(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.support.back_office_process", str(config)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    applied = "SELECT count(*), count(DISTINCT event_id) FROM applied"
    group = f"{consumer_group_prefix(bus.consumer)}back-office"

    def progress() -> tuple[int, int]:
        """(committed offsets of the group, deliveries in the inbox): the inbox is never behind."""
        committed = sum(kafka_admin.committed_offsets(group).values())  # read first: it only grows
        return committed, count(database, "SELECT count(*), 0 FROM bus_inbox")[0]

    rng = random.Random(20261123)
    committed_at_kill = 0
    process = start()
    for _ in range(KILLS):
        # Kill once this incarnation has committed a batch of its own and is partway into the next
        # (batches per partition hold up to 100 deliveries, so that commit is well ahead).
        mid_batch = rng.randint(3, 20)
        deadline = time.monotonic() + 90  # a restart waits out the killed member's session
        while time.monotonic() < deadline:
            committed, handled = progress()
            if committed > committed_at_kill and handled - committed >= mid_batch:
                break
            assert process.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.005)
        else:
            pytest.fail(
                f"never {mid_batch} deliveries ahead of a commit:\n{log.read_text()[-3000:]}"
            )
        process.kill()
        process.wait()
        database.wait_for_sessions_to_end()
        committed_at_kill, handled = progress()
        assert handled < EVENTS, "finished before the kill: raise EVENTS"
        process = start()
    for _ in range(1200):
        if count(database, applied)[0] >= EVENTS:
            break
        assert process.poll() is None, log.read_text()[-3000:]
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)  # anything applied twice would show up by now
    process.terminate()
    assert process.wait(30) == 0, log.read_text()[-3000:]

    assert count(database, applied) == (EVENTS, EVENTS)
    assert count(database, "SELECT count(*), 0 FROM bus_inbox")[0] == EVENTS
    last_run = json.loads(log.read_text().strip().splitlines()[-1])
    # The last kill left handled-but-uncommitted deliveries: they came again and were skipped.
    redelivered = handled - committed_at_kill
    assert redelivered > 0
    print(f"{database.kind}: last run {last_run}, {redelivered} redelivered after the last kill")
    assert last_run == {"applied": EVENTS - handled, "duplicates": redelivered}
