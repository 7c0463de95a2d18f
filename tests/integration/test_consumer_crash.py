"""A back office killed with kill -9 mid-batch restarts without losing or double-applying any
event: handled-but-uncommitted deliveries come again, and the inbox skips them."""

import asyncio
import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from tests.support.deliveries import PURPOSE, TYPE, back_office_bus, moved_to_munich
from tests.support.kafka import Principals

pytestmark = pytest.mark.integration
EVENTS, KILLS = 1_500, 3


def count(database: Path, sql: str) -> tuple[int, ...]:
    with sqlite3.connect(database) as db:
        try:
            return tuple(db.execute(sql).fetchone())
        except sqlite3.OperationalError:  # not created yet
            return (0, 0)


async def test_kill_9_mid_batch_loses_nothing_and_applies_nothing_twice(
    principals: Principals,
    kafka_admin: KafkaAdmin,
    kafka_broker: KafkaConnection,
    tmp_path: Path,
) -> None:
    bus = back_office_bus(principals, kafka_admin, kafka_broker)
    await bus.write(bus.deliveries([moved_to_munich() for _ in range(EVENTS)]))
    database = tmp_path / "back-office.db"
    config = tmp_path / "back-office.json"
    config.write_text(json.dumps({
        "bootstrap": bus.connection.bootstrap, "username": bus.connection.username,
        "password": bus.connection.password, "consumer": bus.consumer,
        "producer_public_pem": bus.producer_key.public_pem().decode(), "database": str(database),
        "purpose": PURPOSE, "event_type": TYPE,
    }))  # fmt: skip
    log = tmp_path / "back-office.log"

    def start() -> "subprocess.Popen[bytes]":
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.support.back_office_process", str(config)],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    applied = "SELECT count(*), count(DISTINCT event_id) FROM applied"
    rng = random.Random(20261123)
    process = start()
    for _ in range(KILLS):
        before = count(database, applied)[0]
        for _ in range(600):  # until this incarnation is visibly at work
            if count(database, applied)[0] > before:
                break
            assert process.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        await asyncio.sleep(rng.uniform(0.05, 0.5))
        process.kill()
        process.wait()
        assert count(database, applied)[0] < EVENTS, "finished before the kill: raise EVENTS"
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
    assert last_run["duplicates"] > 0
