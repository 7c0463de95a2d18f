"""Enforcer benchmark on the real broker (start it first: `bus kafka up`).

    .venv/bin/python -m benchmarks.enforcer [--events 20000] [--rate-seconds 10]

1. Throughput: the enforcer with 4 subscriptions per event, against a raw consume→produce
   pass-through in the same run that writes the same number and size of delivery and audit
   records per input, in the same transactions, but does no verification, policy or disclosure.
2. End-to-end latency (event time → visible to a read_committed consumer) at a steady 1,000 events/s.
Targets (issue 5): ratio ≥ 0.5, ≥ 5,000 events/s, p99 ≤ 250 ms.
"""

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bus.control.topology import ensure_bus_topics
from bus.devenv import broker
from bus.enforcer.pipeline import EnforcerState, InRecord, Outcome, process
from bus.enforcer.records import OutRecord
from bus.enforcer.service import Enforcer
from bus.envelope.attributes import parse_time
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

PARTITIONS = 3
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


def passthrough_like(sample: Outcome, topic_of: dict[str, str]) -> Processor:
    """Writes records of the same sizes and partitioning as the real enforcer did for a sample
    event, to stand-in topics (`topic_of`) so the real audit and delivery topics stay clean."""
    shapes = [
        (topic_of[r.topic], len(r.key or b""), len(r.value), r.headers) for r in sample.records
    ]

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
) -> float:
    topic = unique_name("bench-ingress")
    admin.create_topics([topic], partitions=PARTITIONS)
    state = with_ingress(state, topic)
    try:
        await publish(connection, topic, batch)
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
        stop.set()
        await task
        return (len(batch) - first) / elapsed
    finally:
        admin.delete_topics([topic])


async def latency(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    state: EnforcerState,
    key: AgencySigningKey,
    consumer: str,
    seconds: float,
) -> list[float]:
    topic = unique_name("bench-latency")
    admin.create_topics([topic], partitions=PARTITIONS)
    state = with_ingress(state, topic)
    enforcer = Enforcer(connection, [topic], lambda: state, group=unique_name("bench"))
    stop = asyncio.Event()
    task = asyncio.create_task(enforcer.run(stop))
    reader = AIOKafkaConsumer(
        delivery_topic(consumer, "tax"),
        **connection.aiokafka_kwargs(),
        isolation_level="read_committed",
        auto_offset_reset="latest",
    )
    await reader.start()
    await asyncio.sleep(3)  # let the enforcer join its group
    latencies: list[float] = []

    async def read() -> None:
        while not stop.is_set():
            for part in (await reader.getmany(timeout_ms=200)).values():
                now = datetime.now(UTC)
                for r in part:
                    sent = parse_time(header_map(r.headers)["ce_time"])
                    latencies.append((now - sent).total_seconds() * 1000)

    reading = asyncio.create_task(read())
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        start = time.perf_counter()
        for i in range(int(seconds * 1000)):
            target = start + i / 1000
            if (delay := target - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            r = ingress_record(
                issue_event(address_changed(f"P-{i % 500:04d}-0001", new_address=MUNICH), key)
            )
            await producer.send(topic, r.value, key=r.key, headers=r.headers)
        await producer.flush()
        await asyncio.sleep(3)
    finally:
        stop.set()
        await producer.stop()
        await reading
        await reader.stop()
        await task
        admin.delete_topics([topic])
    return latencies


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

    stand_ins = {t: unique_name("bench-out") for t in {r.topic for r in sample.records}}
    admin.create_topics(stand_ins.values(), partitions=PARTITIONS)
    try:
        baseline = await throughput(
            connection, admin, state, batch, passthrough_like(sample, stand_ins)
        )
    finally:
        admin.delete_topics(stand_ins.values())
    print(f"raw pass-through (same I/O, no work): {baseline:8.0f} events/s", flush=True)
    enforced = await throughput(connection, admin, state, batch, process)
    print(f"enforcer (verify, policy, disclose):  {enforced:8.0f} events/s", flush=True)
    print(f"ratio enforcer / pass-through: {enforced / baseline:.2f}  (target ≥ 0.5)")
    print(f"target ≥ 5,000 events/s: {'met' if enforced >= 5000 else 'MISSED'}")

    lat = await latency(connection, admin, state, key, consumers[0], args.rate_seconds)
    if lat:
        q = statistics.quantiles(lat, n=100)
        print(
            f"end-to-end latency at 1,000 events/s over {len(lat)} events: "
            f"p50 {q[49]:.0f} ms, p99 {q[98]:.0f} ms"
            f" (target p99 ≤ 250 ms: {'met' if q[98] <= 250 else 'MISSED'})"
        )


if __name__ == "__main__":
    asyncio.run(main())
