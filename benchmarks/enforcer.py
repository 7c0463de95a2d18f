"""Enforcer benchmark on the real broker (start it first: `bus kafka up`).

    .venv/bin/python -m benchmarks.enforcer [--events 20000] [--rate-seconds 10]

1. Throughput: the enforcer with 4 subscriptions per event, as `bus enforce --workers N` runs it
   (1 and 2 worker processes in one group, benchmarks/enforcer_workers.py), against raw
   consume→produce pass-throughs in the same run that write the same number and size of delivery
   and audit records per input, in the same kind of transactions, but do no verification, policy
   or disclosure: one on aiokafka (benchmarks/aiokafka_passthrough.py), one on librdkafka
   (benchmarks/librdkafka_passthrough.py: one transactional producer, KIP-447 offsets), and the
   enforcer's own loop in this process with a stand-in that only writes those records (the
   loop's overhead).
2. CPU per event of each run, split into the enforcing process(es) with their client threads and
   the broker, from /proc over the processing window (publishing excluded for the pass-throughs;
   the workers' input arrives in one burst at the window's start).
3. The enforcer's resident memory with 10,000 grants in its policy (1 worker, 5,000 events).
4. End-to-end latency (event sent → visible to a read_committed consumer) at a steady
   1,000 events/s (and at 250/s, well within capacity) through two workers, in steady state: the
   clock starts once LATENCY_WARM_UP events have gone through (the workers' partitions set up).
   The events are signed beforehand and sent through librdkafka from a thread of their own.
The last line is one JSON object of these figures. Targets (issue 15): ≥ 5,000 events/s with 2
workers, ratio of 1 worker to the aiokafka pass-through ≥ 0.5, ≤ 500 µs CPU per event in the
enforcer's process, p99 ≤ 250 ms, RSS ≤ 200 MB at 10,000 grants.
"""

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Producer

from benchmarks.aiokafka_passthrough import aiokafka_passthrough
from benchmarks.cpu import process_cpu_s
from benchmarks.enforcer_workers import (
    measure_workers,
    start_workers,
    stop_workers,
    wait_until_settled,
)
from benchmarks.librdkafka_passthrough import Shape, librdkafka_passthrough
from bus.control.topology import ensure_bus_topics
from bus.devenv import broker
from bus.enforcer.pipeline import EnforcerState, InRecord, Outcome, process
from bus.enforcer.records import OutRecord
from bus.enforcer.service import Enforcer
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import KafkaRecord, header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import load_kafka_settings
from bus.kafka.topics import delivery_topic
from bus.keys import AgencySigningKey
from bus.policy.facts import Subscription
from tests.support.enforcer_process import state_for, with_ingress
from tests.support.enforcer_runs import MUNICH
from tests.support.events import address_changed
from tests.support.kafka import unique_name

PARTITIONS = 6  # as the bus's ingress topics: two workers take three each
GRANTS_FOR_MEMORY = 10_000
LATENCY_WORKERS = 2  # as `bus enforce` runs on this two-core machine by default
# The issue's 1,000 events/s, and a rate well within capacity: the loop's own latency.
LATENCY_RATES = (1000, 250)
# Events sent, and delivered, before the latency clock starts: the workers are set up by then.
LATENCY_WARM_UP = 200
TYPE = "population.AddressChanged"


def records(key: AgencySigningKey, count: int) -> list[KafkaRecord]:
    return [
        ingress_record(
            issue_event(address_changed(f"P-{i % 500:04d}-0000", new_address=MUNICH), key)
        )
        for i in range(count)
    ]


async def publish(connection: KafkaConnection, topic: str, batch: list[KafkaRecord]) -> None:
    producer = AIOKafkaProducer(
        **connection.aiokafka_kwargs(), acks="all", enable_idempotence=True, linger_ms=20
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, r.value, key=r.key, headers=r.headers) for r in batch]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


Processor = Callable[[InRecord, EnforcerState, datetime], Outcome]


@dataclass
class CpuWindow:
    """CPU seconds of this process and of the broker over a processing window."""

    broker_pid: int | None
    client_s: float = 0.0
    broker_s: float = 0.0

    def open(self) -> None:
        self.client_s = time.process_time()
        self.broker_s = process_cpu_s(self.broker_pid) if self.broker_pid else 0.0

    def close(self) -> None:
        self.client_s = time.process_time() - self.client_s
        self.broker_s = (process_cpu_s(self.broker_pid) - self.broker_s) if self.broker_pid else 0.0

    def per_event_us(self, events: int) -> tuple[float, float | None]:
        """(this process, broker) CPU µs per event; the broker's None if its pid is unknown."""
        broker_us = 1e6 * self.broker_s / events if self.broker_pid else None
        return 1e6 * self.client_s / events, broker_us


def shapes_of(sample: Outcome, topic_of: dict[str, str]) -> list[Shape]:
    """The sample event's output records as (stand-in topic, key bytes, value bytes, headers)."""
    return [(topic_of[r.topic], len(r.key or b""), len(r.value), r.headers) for r in sample.records]


def passthrough_like(sample: Outcome, topic_of: dict[str, str]) -> Processor:
    """Writes records of the same sizes and partitioning as the real enforcer did for a sample
    event, to stand-in topics (`topic_of`) so the real audit and delivery topics stay clean."""
    shapes = shapes_of(sample, topic_of)

    def passthrough(record: InRecord, state: EnforcerState, now: datetime) -> Outcome:
        return Outcome(
            [
                OutRecord(t, (record.key or b"")[:1] * k, (record.value or b"x")[:1] * v, h)
                for t, k, v, h in shapes
            ],
            [],
        )

    return passthrough


async def throughput(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    state: EnforcerState,
    batch: list[KafkaRecord],
    processor: Processor,
    cpu: CpuWindow | None = None,
) -> float:
    topic = unique_name("bench-ingress")
    admin.create_topics([topic], partitions=PARTITIONS)
    state = with_ingress(state, topic)
    try:
        await publish(connection, topic, batch)
        if cpu:
            cpu.open()
        enforcer = Enforcer(
            connection,
            [topic],
            lambda: state,
            group=unique_name("bench"),
            batch_size=500,
            processor=processor,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(enforcer.run(stop))
        while enforcer.processed == 0:  # noqa: ASYNC110 - polling a counter, no event to wait on
            await asyncio.sleep(0.01)
        started, first = time.perf_counter(), enforcer.processed
        while enforcer.processed < len(batch):  # noqa: ASYNC110 - as above
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        if cpu:
            cpu.close()
        stop.set()
        await task
        return (len(batch) - first) / elapsed
    finally:
        admin.delete_topics([topic])


async def raw_throughput(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    batch: list[KafkaRecord],
    shapes: list[Shape],
    cpu: CpuWindow,
    client: str,
) -> float:
    """The same records through the raw pass-through on `client` (aiokafka or librdkafka; the
    latter in a thread: it blocks)."""
    topic = unique_name("bench-ingress")
    admin.create_topics([topic], partitions=PARTITIONS)
    try:
        await publish(connection, topic, batch)
        cpu.open()
        if client == "aiokafka":
            rate = await aiokafka_passthrough(connection, topic, shapes, len(batch))
        else:
            rate = await asyncio.to_thread(
                librdkafka_passthrough, connection, topic, shapes, len(batch)
            )
        cpu.close()
        return rate
    finally:
        admin.delete_topics([topic])


async def latency(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    config: dict[str, Any],
    key: AgencySigningKey,
    consumer: str,
    seconds: float,
    directory: Path,
    rate: int,
) -> list[float]:
    """Milliseconds from each event's send to its delivery being visible to a read_committed
    consumer, at a steady `rate` events/s through LATENCY_WORKERS enforcer workers.

    Steady state: the workers have set their partitions up and written a first delivery before
    the clock starts (a rebalance's cost is the rebalance tests' subject). The events are signed
    beforehand and sent from a thread of their own through librdkafka (linger 1 ms): on this
    two-core box the agency's producer shares the CPU with the workers and the broker, and
    aiokafka's send would take 0.4 of a core at 1,000 events/s."""
    topic, group = unique_name("bench-latency"), unique_name("bench-latency")
    admin.create_topics([topic], partitions=PARTITIONS)
    batch = [
        ingress_record(
            issue_event(address_changed(f"P-{i % 500:04d}-0001", new_address=MUNICH), key)
        )
        for i in range(int(seconds * rate) + LATENCY_WARM_UP)
    ]
    warm_up, timed = batch[:LATENCY_WARM_UP], batch[LATENCY_WARM_UP:]
    workers = start_workers(
        {**config, "ingress": topic, "group": group}, LATENCY_WORKERS, directory
    )
    reader = AIOKafkaConsumer(
        delivery_topic(consumer, "tax"),
        **connection.aiokafka_kwargs(),
        isolation_level="read_committed",
        # The topic holds the throughput runs' deliveries too: only what comes from now on.
        auto_offset_reset="latest",
        fetch_max_wait_ms=10,  # the broker answers at once, not after its default 500 ms
    )
    await reader.start()
    arrived: dict[str, float] = {}

    async def read(ids: set[str]) -> None:
        deadline = time.monotonic() + 60
        while not ids <= arrived.keys() and time.monotonic() < deadline:
            for part in (await reader.getmany(timeout_ms=100)).values():
                now = time.monotonic()
                for r in part:
                    event_id = header_map(r.headers)["ce_id"]
                    if event_id in ids:
                        arrived.setdefault(event_id, now)

    sent_at: dict[str, float] = {}
    try:
        while not reader.assignment():  # joined: "latest" is resolved from here on
            await reader.getmany(timeout_ms=100)
        for tp in reader.assignment():
            await reader.position(tp)
        await asyncio.to_thread(wait_until_settled, connection, group, LATENCY_WORKERS)
        await asyncio.to_thread(_paced, connection, topic, warm_up, rate, {})
        await read({header_map(r.headers)["ce_id"] for r in warm_up})
        reading = asyncio.create_task(read({header_map(r.headers)["ce_id"] for r in timed}))
        await asyncio.to_thread(_paced, connection, topic, timed, rate, sent_at)
        await reading
    finally:
        await reader.stop()
        stop_workers(workers)
        admin.delete_topics([topic])
    return [(arrived[i] - sent) * 1000 for i, sent in sent_at.items() if i in arrived]


def _paced(
    connection: KafkaConnection,
    topic: str,
    batch: list[KafkaRecord],
    rate: int,
    sent_at: dict[str, float],
) -> None:
    """Send `batch` at `rate` events/s, noting each event's send time (monotonic) by its id."""
    producer = Producer(
        {
            **connection.confluent_config(),
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": "murmur2_random",  # Kafka's default partitioner, as the enforcer checks
        }
    )
    start = time.perf_counter()
    for i, r in enumerate(batch):
        if (delay := start + i / rate - time.perf_counter()) > 0:
            time.sleep(delay)
        sent_at[header_map(r.headers)["ce_id"]] = time.monotonic()
        producer.produce(topic, r.value, r.key, headers=list(r.headers))
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError(f"could not publish to {topic} within 60 s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    args = parser.parse_args()
    settings = load_kafka_settings()
    connection = broker.admin_connection(settings)
    admin = KafkaAdmin(connection)
    key = AgencySigningKey.generate("muni-muc")
    consumers = [unique_name(f"bench-{i}") for i in range(4)]
    state = state_for(
        {
            "consumers": consumers,
            "producer": "muni-muc",
            "producer_public_pem": key.public_pem().decode(),
        }
    )
    ensure_bus_topics(
        admin, [Subscription(c, TYPE, "tax") for c in consumers], partitions=PARTITIONS
    )
    print(f"signing {args.events} events …", flush=True)
    batch = records(key, args.events)
    sample_record = batch[0]
    sample = process(
        InRecord(
            sample_record.topic, 0, 0, sample_record.key, sample_record.value, sample_record.headers
        ),
        state,
        datetime.now(UTC),
    )
    out_bytes = sum(len(r.value) for r in sample.records)
    print(f"per input event: {len(sample.records)} output records, {out_bytes} bytes", flush=True)

    # Broker CPU is node 1's: measure on a one-node lab (a cluster's other nodes would be missed).
    pid = broker.broker_pid(settings) if settings.node_count == 1 else None
    stand_ins = {t: unique_name("bench-out") for t in {r.topic for r in sample.records}}
    admin.create_topics(stand_ins.values(), partitions=PARTITIONS)
    names = ("aiokafka", "librdkafka", "loop")
    windows = {name: CpuWindow(pid) for name in names}
    shapes = shapes_of(sample, stand_ins)
    try:
        aiokafka_raw = await raw_throughput(
            connection, admin, batch, shapes, windows["aiokafka"], "aiokafka"
        )
        librdkafka_raw = await raw_throughput(
            connection, admin, batch, shapes, windows["librdkafka"], "librdkafka"
        )
        loop_raw = await throughput(
            connection, admin, state, batch, passthrough_like(sample, stand_ins), windows["loop"]
        )
    finally:
        admin.delete_topics(stand_ins.values())
    base = {
        **connection.to_json_dict(),
        "consumers": consumers,
        "producer": "muni-muc",
        "producer_public_pem": key.public_pem().decode(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-enforcer-") as tmp:
        directory = Path(tmp)
        runs = {
            workers: await asyncio.to_thread(
                measure_workers, connection, admin, base, batch, workers, PARTITIONS, pid, directory
            )
            for workers in (1, 2)
        }
        many = {**base, "idle_grants": GRANTS_FOR_MEMORY}
        sized = await asyncio.to_thread(
            measure_workers, connection, admin, many, batch[:5000], 1, PARTITIONS, pid, directory
        )
        cpu = {name: window.per_event_us(len(batch)) for name, window in windows.items()}
        for label, name, rate in (
            ("raw pass-through, aiokafka", "aiokafka", aiokafka_raw),
            ("raw pass-through, librdkafka", "librdkafka", librdkafka_raw),
            ("pass-through in the enforcer's loop", "loop", loop_raw),
        ):
            process_us, broker_us = cpu[name]
            print(
                f"{label:45} {rate:8.0f} events/s; CPU per event: this process"
                f" {process_us:4.0f} µs, broker {_us(broker_us)}",
                flush=True,
            )
        for workers, run in runs.items():
            label = f"enforcer, {workers} worker{'s' if workers > 1 else ''}"
            print(
                f"{label:45} {run.events_per_s:8.0f} events/s; CPU per event: workers"
                f" {run.worker_cpu_us:4.0f} µs, broker {_us(run.broker_cpu_us)};"
                f" RSS {run.rss_mb:.0f} MB",
                flush=True,
            )
        print(
            f"enforcer, 1 worker, {GRANTS_FOR_MEMORY:,} grants:{sized.events_per_s:18.0f} events/s;"
            f" RSS {sized.rss_mb:.0f} MB (target ≤ 200 MB)",
            flush=True,
        )
        one, two = runs[1], runs[2]
        print(
            f"ratio 1 worker / aiokafka pass-through:   {one.events_per_s / aiokafka_raw:.2f}"
            "  (target ≥ 0.5)"
        )
        print(f"ratio 1 worker / librdkafka pass-through: {one.events_per_s / librdkafka_raw:.2f}")
        print(
            f"ratio 2 workers / 1 worker:                {two.events_per_s / one.events_per_s:.2f}"
        )
        print(f"target ≥ 5,000 events/s (2 workers): {_met(two.events_per_s >= 5000)}")
        print(f"target ≤ 500 µs CPU per event in the enforcer: {_met(one.worker_cpu_us <= 500)}")
        latencies = {
            rate: _quantiles(
                await latency(
                    connection, admin, base, key, consumers[0], args.rate_seconds, directory, rate
                )
            )
            for rate in LATENCY_RATES
        }
    for rate, (count, p50, p99) in latencies.items():
        print(
            f"end-to-end latency at {rate:,} events/s, {LATENCY_WORKERS} workers, {count} events:"
            f" p50 {p50} ms, p99 {p99} ms"
            + (
                f" (target p99 ≤ 250 ms: {_met(p99 is not None and p99 <= 250)})"
                if rate == 1000
                else ""
            )
        )
    _, p50, p99 = latencies[1000]
    figures = {
        "events": len(batch),
        "passthrough_aiokafka_eps": round(aiokafka_raw),
        "passthrough_librdkafka_eps": round(librdkafka_raw),
        "passthrough_enforcer_loop_eps": round(loop_raw),
        "enforcer_1_worker_eps": round(one.events_per_s),
        "enforcer_2_workers_eps": round(two.events_per_s),
        "enforcer_cpu_us_per_event": round(one.worker_cpu_us),
        "enforcer_broker_cpu_us_per_event": _rounded(one.broker_cpu_us),
        "enforcer_2_workers_cpu_us_per_event": round(two.worker_cpu_us),
        "enforcer_rss_mb": round(one.rss_mb),
        "enforcer_rss_mb_at_10000_grants": round(sized.rss_mb),
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latency_250_eps_p50_ms": latencies[250][1],
        "latency_250_eps_p99_ms": latencies[250][2],
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures))


def _quantiles(latencies: list[float]) -> tuple[int, int | None, int | None]:
    """(count, p50, p99) in ms; None for fewer than two."""
    if len(latencies) < 2:
        return len(latencies), None, None
    q = statistics.quantiles(latencies, n=100)
    return len(latencies), round(q[49]), round(q[98])


def _us(value: float | None) -> str:
    return "unknown" if value is None else f"{value:4.0f} µs"


def _met(condition: bool) -> str:
    return "met" if condition else "MISSED"


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


if __name__ == "__main__":
    asyncio.run(main())
