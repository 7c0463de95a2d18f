"""Interest markers on the real broker (start it first: `bus kafka up`).

    .venv/bin/python -m benchmarks.interest [--events 10000] [--rounds 2] [--markers 1000000]

1. Throughput, interest checks on against off, in the same run, alternating (off, on, off, on…):
   4 subscriptions per event, each consumer a grant of its own, 500 people (as
   benchmarks/enforcer.py). Off: no grant requires interest. On: every grant does, and each
   consumer holds markers on half the people (half its decisions PERMIT, half NO_INTEREST), so
   the loop reads 4 marker topics beside the ingress topic and fences every batch on their end
   offsets. Each run first lets a fresh enforcer group apply the markers, stops it, publishes the
   events, and times a second enforcer of the group from its first commit to the last event
   (which also rebuilds the markers from their topics at set-up).
2. Memory per million markers: the enforcer's table holding `--markers` markers spread over 6
   partitions (tracemalloc: the table's own allocations), and rebuilding them from a marker topic
   at set-up (seconds, and the process's RSS growth).
The last line is one JSON object of these figures.
"""

import argparse
import asyncio
import gc
import json
import resource
import statistics
import time
import tracemalloc
from dataclasses import replace

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.enforcer import publish, records
from bus.control.topology import ensure_bus_topics
from bus.devenv import broker
from bus.enforcer.interest_markers import InterestMarkers
from bus.enforcer.interest_reading import read_markers
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.service import Enforcer
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.key_partition import key_partition
from bus.kafka.settings import load_kafka_settings
from bus.kafka.topics import interest_topic
from bus.kafka.writing import COMPACTED
from bus.keys import AgencySigningKey
from bus.policy.documents import ProducerAuthority
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from bus.record.interest_marker import marker_value
from consumers.interest import InterestRegister
from tests.support.enforcer_process import state_for, with_ingress
from tests.support.kafka import unique_name
from tests.support.policy_sets import agency, grant, policy_set, purpose

PARTITIONS = 6
PEOPLE = 500  # benchmarks.enforcer.records: P-0000-0000 … P-0499-0000
CONSUMERS = 4
TYPE = "population.AddressChanged"


def _state(key: AgencySigningKey, consumers: list[str], interest: bool) -> EnforcerState:
    base = state_for(
        {
            "consumers": consumers,
            "producer": key.agency_id,
            "producer_public_pem": key.public_pem().decode(),
            "ingress": "unused",
        }
    )
    if not interest:
        return base
    snapshot = compile_snapshot(
        policy_set(
            agencies=(
                agency(key.agency_id, "09162000", "population-register"),
                *(agency(c, "09", "taxation") for c in consumers),
            ),
            purposes=(purpose("tax", "taxation"),),
            grants=tuple(
                grant(
                    f"g-{i}", c, "tax", fields=("subject_id", "new_address"), requires_interest=True
                )
                for i, c in enumerate(consumers)
            ),
            producers=base_producers(key),
        )
    )
    return replace(base, snapshot=snapshot)


def base_producers(key: AgencySigningKey) -> tuple[ProducerAuthority, ...]:
    return (ProducerAuthority(agency=key.agency_id, event_types=(TYPE,), territory="09162000"),)


async def _run_until(enforcer: Enforcer, count: int) -> float:
    """Seconds from the enforcer's first commit until it has processed `count` records."""
    stop = asyncio.Event()
    task = asyncio.create_task(enforcer.run(stop))
    while enforcer.processed == 0 and count:  # noqa: ASYNC110 - polling a counter
        await asyncio.sleep(0.01)
    started, first = time.perf_counter(), enforcer.processed
    while enforcer.processed < count:  # noqa: ASYNC110 - as above
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return elapsed if enforcer.processed > first else 0.0


async def throughput(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    key: AgencySigningKey,
    events: int,
    interest: bool,
) -> float:
    consumers = [unique_name("bench-c") for _ in range(CONSUMERS)]
    prefix = f"{unique_name('bench')}.interest."
    ingress = unique_name("bench-ingress")
    admin.create_topics([ingress], partitions=PARTITIONS)
    ensure_bus_topics(
        admin, [Subscription(c, TYPE, "tax") for c in consumers], partitions=PARTITIONS
    )
    marker_topics = [interest_topic(c, "tax", prefix) for c in consumers]
    group = unique_name("bench")
    state = with_ingress(_state(key, consumers, interest), ingress)
    markers_written = 0
    try:
        if interest:
            admin.create_topics(marker_topics, PARTITIONS, COMPACTED)
            for consumer in consumers:
                async with InterestRegister(consumer, connection, prefix) as register:
                    for i in range(0, PEOPLE, 2):
                        await register.add(f"P-{i:04d}-0000", "tax")
                        markers_written += 1

        def enforcer() -> Enforcer:
            table = InterestMarkers(prefix) if interest else None
            own = replace(state, interest=table)
            return Enforcer(connection, [ingress], lambda: own, group=group, interest=table)

        await _run_until(enforcer(), markers_written)  # the markers applied and audited
        await publish(connection, ingress, records(key, events))
        elapsed = await _run_until(enforcer(), events)
        return events / elapsed
    finally:
        admin.delete_topics([ingress, *(t for t in marker_topics if interest)])


def table_memory(markers: int) -> tuple[float, float]:
    """(MiB the table allocates for `markers` markers, seconds to build it)."""
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    table = InterestMarkers()
    per_partition: list[dict[str, float]] = [{} for _ in range(PARTITIONS)]
    for i in range(markers):
        subject = f"P-{i:010d}"
        per_partition[key_partition(subject.encode(), PARTITIONS)][subject] = float("inf")
    for n, held in enumerate(per_partition):
        table.replace((interest_topic("tax-by", "tax"), n), held, PARTITIONS)
    elapsed = time.perf_counter() - started
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert table.count() == markers
    return current / 2**20, elapsed


def rebuild(
    connection: KafkaConnection, admin: KafkaAdmin, markers: int
) -> tuple[float, float, float]:
    """(seconds to write, seconds to read back at set-up, RSS growth MiB) for `markers` markers
    on one marker topic."""
    topic = interest_topic("bench-c", "tax", f"{unique_name('bench')}.interest.")
    admin.create_topics([topic], PARTITIONS, COMPACTED)
    try:
        started = time.perf_counter()
        producer = Producer(
            {**connection.confluent_config(), "partitioner": "murmur2_random", "linger.ms": 20}
        )
        value = marker_value(None)
        for i in range(markers):
            while True:
                try:
                    producer.produce(topic, value, f"P-{i:010d}".encode())
                    break
                except BufferError:
                    producer.poll(0.1)
            if i % 10_000 == 0:
                producer.poll(0)
        producer.flush()
        written = time.perf_counter() - started
        ends = {}
        for n in range(PARTITIONS):
            ends[(topic, n)] = _end_offset(connection, topic, n)
        rss_before = _rss_mib()
        started = time.perf_counter()
        held = read_markers(connection, unique_name("bench"), ends, {topic: PARTITIONS})
        read = time.perf_counter() - started
        assert sum(len(m) for m in held.values()) == markers, "every marker read back"
        return written, read, _rss_mib() - rss_before
    finally:
        admin.delete_topics([topic])


def _end_offset(connection: KafkaConnection, topic: str, partition: int) -> int:

    reader = Consumer({**connection.confluent_config(), "group.id": "bench-offsets"})
    try:
        return int(reader.get_watermark_offsets(TopicPartition(topic, partition), 30)[1])
    finally:
        reader.close()


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2, choices=range(1, 10))
    parser.add_argument("--markers", type=int, default=1_000_000)
    args = parser.parse_args()
    settings = load_kafka_settings()

    connection = broker.admin_connection(settings)
    admin = KafkaAdmin(connection)
    key = AgencySigningKey.generate("muni-muc")
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for round_ in range(args.rounds):
        for mode in ("off", "on"):
            rate = await throughput(connection, admin, key, args.events, mode == "on")
            rates[mode].append(rate)
            print(f"round {round_ + 1}, interest {mode}: {rate:,.0f} events/s", flush=True)
    off, on = max(rates["off"]), max(rates["on"])
    median_off, median_on = statistics.median(rates["off"]), statistics.median(rates["on"])
    print(
        f"median: off {median_off:,.0f}, on {median_on:,.0f}, on/off {median_on / median_off:.2f}"
    )
    print(
        f"best of {args.rounds}: off {off:,.0f} events/s, on {on:,.0f} events/s, on/off {on / off:.2f}"
    )
    mib, built_s = table_memory(args.markers)
    print(
        f"table: {args.markers:,} markers take {mib:,.0f} MiB "
        f"({mib * 1e6 / args.markers:,.0f} MiB per million), built in {built_s:.1f} s"
    )
    written_s, read_s, rss = rebuild(connection, admin, args.markers)
    print(
        f"rebuild: {args.markers:,} markers written in {written_s:.1f} s, read back at set-up in "
        f"{read_s:.1f} s ({args.markers / read_s:,.0f} markers/s), RSS +{rss:,.0f} MiB"
    )
    print(
        json.dumps(
            {
                "events": args.events,
                "rates_off": [round(r) for r in rates["off"]],
                "rates_on": [round(r) for r in rates["on"]],
                "on_over_off": round(on / off, 2),
                "median_on_over_off": round(median_on / median_off, 2),
                "markers": args.markers,
                "table_mib": round(mib, 1),
                "rebuild_s": round(read_s, 1),
                "rebuild_rss_mib": round(rss, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
