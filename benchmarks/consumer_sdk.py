"""The consumer SDK's cost per event on the real broker (start it first: `bus kafka up`).

    .venv/bin/python -m benchmarks.consumer_sdk [--events 5000] [--rounds 3]

One consumer agency, one delivery topic (2 partitions) holding `--events` real deliveries (signed
SD-JWT presentations, as the enforcer writes them). Each round reads all of them three ways, each
as a fresh consumer group, alternating within the round:
- bare: an aiokafka loop with the agency's credentials that does nothing per record and commits
  per batch (the floor any Kafka consumer pays);
- verify: the same loop plus the SDK's signature check (`verify_record`), to show what of the
  SDK's cost is verification;
- sdk: `Consumer` with a handler that does nothing: verification, the inbox lookup, the SQLite
  transaction with the inbox entry, metrics, per-batch commits.
Printed: events/s per way and round, the medians, the SDK's overhead per event over the bare loop
(µs) and the ratios. The last line is one JSON object of these figures.
"""

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from bus.devenv import broker
from bus.envelope.kafka_binding import verify_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.settings import load_kafka_settings
from consumers import Consumer, ReleasedEvent, SqliteInbox
from tests.support.deliveries import (
    PURPOSE,
    TYPE,
    BackOfficeBus,
    back_office_bus,
    moved_to_munich,
)
from tests.support.kafka import Principals, unique_name

Way = Callable[[BackOfficeBus, int], Coroutine[Any, Any, None]]


async def bare(bus: BackOfficeBus, events: int, verify: bool = False) -> None:
    consumer = AIOKafkaConsumer(
        bus.topic,
        **bus.connection.aiokafka_kwargs(),
        group_id=f"{bus.consumer}.{unique_name('bare')}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    seen = 0
    try:
        while seen < events:
            batches = await consumer.getmany(timeout_ms=500, max_records=100)
            for tp, records in batches.items():
                for record in records:
                    if verify:
                        verify_record(record.value, list(record.headers or ()), bus.keys)
                seen += len(records)
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await consumer.stop()


async def verifying(bus: BackOfficeBus, events: int) -> None:
    await bare(bus, events, verify=True)


async def sdk(bus: BackOfficeBus, events: int) -> None:
    handled = 0
    stop = asyncio.Event()

    async def nothing(event: ReleasedEvent[Any], db: sqlite3.Connection) -> None:
        """Does nothing but count, so what is measured is the SDK around it."""
        nonlocal handled
        handled += 1
        if handled == events:
            stop.set()  # the SDK finishes this record and commits its batch, then returns

    with tempfile.TemporaryDirectory() as directory:
        inbox = SqliteInbox(Path(directory) / "inbox.db")
        consumer = Consumer(
            bus.consumer,
            bus.connection,
            bus.keys,
            inbox,
            group=unique_name("sdk"),
            purge_every_s=None,
        )
        consumer.subscribe(TYPE, PURPOSE, nothing)
        await consumer.run(stop)
        inbox.close()
    if consumer.stats.applied != events:
        raise SystemExit(f"the SDK applied {consumer.stats.applied} of {events}: {consumer.stats}")


WAYS: dict[str, Way] = {"bare": bare, "verify": verifying, "sdk": sdk}


async def timed(way: Way, bus: BackOfficeBus, events: int) -> float:
    started = time.perf_counter()
    await way(bus, events)
    return events / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 10))
    args = parser.parse_args()
    connection = broker.admin_connection(load_kafka_settings())
    admin = KafkaAdmin(connection)
    principals = Principals(admin, connection)
    try:
        bus = back_office_bus(principals, admin, connection)
        print(f"writing {args.events} signed deliveries to {bus.topic} …", flush=True)
        await bus.write(bus.deliveries([moved_to_munich() for _ in range(args.events)]))
        rates: dict[str, list[float]] = {name: [] for name in WAYS}
        for round_ in range(1, args.rounds + 1):
            for name, way in WAYS.items():
                rate = await timed(way, bus, args.events)
                rates[name].append(rate)
                print(f"round {round_} {name:>6}: {rate:>8,.0f} events/s", flush=True)
    finally:
        principals.cleanup()
    median = {name: statistics.median(r) for name, r in rates.items()}
    overhead_us = (1 / median["sdk"] - 1 / median["bare"]) * 1e6
    verify_us = (1 / median["verify"] - 1 / median["bare"]) * 1e6
    print(
        f"medians: bare {median['bare']:,.0f}, verify {median['verify']:,.0f}, "
        f"sdk {median['sdk']:,.0f} events/s; sdk/bare {median['sdk'] / median['bare']:.2f}"
    )
    print(
        f"per event over the bare loop: sdk +{overhead_us:.0f} µs, of which verification "
        f"+{verify_us:.0f} µs"
    )
    figures = {
        "events": args.events,
        "rates": rates,
        "medians": median,
        "sdk_overhead_us": round(overhead_us, 1),
        "verify_overhead_us": round(verify_us, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
