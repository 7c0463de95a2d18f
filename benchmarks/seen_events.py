"""Cost of the DUPLICATE_EVENT memory (bus/enforcer/seen_events.py, seen_journal.py).

    .venv/bin/python -m benchmarks.seen_events [--ids 1000000] [--batch 200]

1. Memory per id: SeenEvents holding N ids, against a plain dict {(source, id): offset} of the
   same N ids (the obvious way), measured with tracemalloc in the same run.
2. Time per check: SeenInBatch.earlier_acceptance for new ids (the hot path: every accepted event
   is checked and remembered) and for known ids, against the same dict's lookup-and-insert, and
   against what process() takes per event (verify, decide, disclose) in the same run.
3. Rebuild at assignment on the real broker (start it first: `bus kafka up`): N ids written as
   journal records of `--batch` ids each (one per transaction, as the loop writes them), loaded by
   rebuild(), against reading the same records raw (no decoding, no memory) in the same run.
"""

import argparse
import asyncio
import gc
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from aiokafka import AIOKafkaProducer

from bus.devenv import broker
from bus.enforcer.pipeline import InRecord, process
from bus.enforcer.seen_events import SeenEvents
from bus.enforcer.seen_journal import SeenEventsConfig, rebuild, seen_events_topic
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import read_to_end, topic_reader
from bus.kafka.settings import load_kafka_settings
from bus.kafka.topics import ingress_topic
from bus.keys import AgencySigningKey
from tests.support.enforcer_process import state_for
from tests.support.kafka import unique_name
from tests.support.poison_records import TYPE, good_record

SOURCE = "muni-09162000"


def allocated(build: Callable[[], object]) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    kept = build()
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size, kept


def filled_memory(ids: list[str]) -> SeenEvents:
    seen = SeenEvents(len(ids))
    batch = seen.batch()
    for offset, event_id in enumerate(ids):
        batch.earlier_acceptance(SOURCE, event_id, offset)
    batch.commit()
    return seen


def filled_dict(ids: list[str]) -> dict[tuple[str, str], int]:
    return {(SOURCE, event_id): offset for offset, event_id in enumerate(ids)}


def per_check_ns(check: Callable[[str, int], object], ids: list[str]) -> float:
    started = time.perf_counter_ns()
    for offset, event_id in enumerate(ids):
        check(event_id, offset)
    return (time.perf_counter_ns() - started) / len(ids)


def process_ns(events: int = 2_000) -> float:
    """process() per good event with one subscription, as in tests/support/enforcer_process."""
    key = AgencySigningKey.generate("muni-muc")
    state = state_for(
        {
            "consumers": ["tax-a"],
            "producer": "muni-muc",
            "producer_public_pem": key.public_pem().decode(),
        }
    )
    records = []
    for offset in range(events):
        _id, record_key, value, headers = good_record(key, f"P-{offset:04d}-0000")
        records.append(InRecord(ingress_topic(TYPE), 0, offset, record_key, value, headers))
    now = datetime.now(UTC)
    started = time.perf_counter_ns()
    for record in records:
        assert process(record, state, now).quarantine_reason is None
    return (time.perf_counter_ns() - started) / events


def checks(ids: list[str], fresh: list[str]) -> None:
    seen = filled_memory(ids)
    plain = filled_dict(ids)

    def dict_check(event_id: str, offset: int) -> object:
        return plain.setdefault((SOURCE, event_id), offset)

    batch = seen.batch()
    new_ours = per_check_ns(lambda i, o: batch.earlier_acceptance(SOURCE, i, o), fresh)
    new_dict = per_check_ns(dict_check, fresh)
    batch = seen.batch()
    known_ours = per_check_ns(
        lambda i, o: batch.earlier_acceptance(SOURCE, i, o + 1), ids[:200_000]
    )
    known_dict = per_check_ns(dict_check, ids[:200_000])
    for what, ours, base in (("new", new_ours, new_dict), ("known", known_ours, known_dict)):
        print(f"check a {what} id: {ours:5.0f} ns (dict {base:4.0f} ns, ratio {ours / base:.1f})")
    per_event = process_ns()
    print(
        f"process() per event: {per_event / 1000:.0f} µs; checking a new id adds "
        f"{new_ours / per_event:.1%} to it"
    )


async def rebuild_cost(connection: KafkaConnection, ids: list[str], per_record: int) -> None:
    admin = KafkaAdmin(connection)
    group, ingress = unique_name("bench-seen"), unique_name("bench-ingress")
    journal = seen_events_topic(group, ingress)
    admin.create_topics([journal], partitions=1)
    try:
        producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), linger_ms=50, acks="all")
        await producer.start()
        try:
            pending = []
            for start in range(0, len(ids), per_record):
                entries = [
                    (SOURCE, i, start + n) for n, i in enumerate(ids[start : start + per_record])
                ]
                value = msgspec.json.encode({"accepted": entries})
                pending.append(await producer.send(journal, value, partition=0))
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
        records = len(pending)

        started = time.perf_counter()
        count = 0
        async with topic_reader(connection, journal) as (consumer, partitions):
            async for _record in read_to_end(consumer, partitions):
                count += 1
        raw = time.perf_counter() - started
        assert count == records

        config = SeenEventsConfig(capacity=len(ids))
        started = time.perf_counter()
        memories = rebuild(connection, group, [(ingress, 0)], config, datetime.now(UTC))
        ours = time.perf_counter() - started
        assert len(memories[(ingress, 0)]) == len(ids)
        print(
            f"rebuild {len(ids):,} ids from {records:,} journal records: {ours:.2f} s "
            f"(reading them raw {raw:.2f} s, ratio {ours / raw:.1f}); {len(ids) / ours:,.0f} ids/s"
        )
    finally:
        admin.delete_topics([journal])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    ids = [str(uuid.uuid4()) for _ in range(args.ids)]
    fresh = [str(uuid.uuid4()) for _ in range(200_000)]

    ours, _ = allocated(lambda: filled_memory(ids))
    plain, _ = allocated(lambda: filled_dict(ids))
    print(
        f"memory for {args.ids:,} ids: {ours / 2**20:.0f} MiB = {ours / args.ids:.0f} B/id "
        f"(dict of (source, id): {plain / 2**20:.0f} MiB = {plain / args.ids:.0f} B/id, "
        f"ratio {ours / plain:.2f}; the id strings themselves not counted for the dict)"
    )
    checks(ids, fresh)
    connection = broker.admin_connection(load_kafka_settings())
    asyncio.run(rebuild_cost(connection, ids, args.batch))


if __name__ == "__main__":
    main()
