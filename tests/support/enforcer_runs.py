"""Shared parts of the enforcer crash and zombie tests: publish a load, run enforcer processes,
wait until all input is committed, and check exactly-once delivery and auditing afterwards."""

import asyncio
import json
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bus.catalog.population import Address
from bus.control.topology import ensure_bus_topics
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC, delivery_topic
from bus.keys import AgencySigningKey
from bus.policy.facts import Subscription
from tests.support.events import address_changed
from tests.support.kafka import read_topic, unique_name

TYPE = "population.AddressChanged"
PARTITIONS = 3
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)


@dataclass
class Run:
    connection: KafkaConnection
    admin: KafkaAdmin
    ingress: str
    group: str
    consumers: list[str]
    config: Path
    log: Path
    published: list[tuple[str, str]]  # (event id, subject) in publish order
    key: AgencySigningKey  # the producer's, to publish more while the enforcer runs

    def start(self, instance: str = "w0", log: Path | None = None) -> "subprocess.Popen[bytes]":
        """An enforcer process as worker `instance` of the run's group (a restart under the same
        name fences its predecessor's transaction at once), logging to the run's log or `log`."""
        with (log or self.log).open("ab") as out:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.enforcer_process",
                    str(self.config),
                    instance,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def prepare(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    ingress: str,
    tmp_path: Path,
    events: int,
    subjects: int,
) -> Run:
    consumers = [unique_name("tax-a"), unique_name("tax-b")]
    key = AgencySigningKey.generate("muni-muc")
    ensure_bus_topics(
        admin, [Subscription(c, TYPE, "tax") for c in consumers], partitions=PARTITIONS
    )
    published = await _publish(connection, ingress, key, range(events), subjects)
    group = unique_name("enforcer")
    config = tmp_path / "enforcer.json"
    config.write_text(
        json.dumps(
            {
                **connection.to_json_dict(),
                "ingress": ingress,
                "group": group,
                "consumers": consumers,
                "producer": "muni-muc",
                "producer_public_pem": key.public_pem().decode(),
            }
        )
    )
    log = tmp_path / "enforcer.log"
    return Run(connection, admin, ingress, group, consumers, config, log, published, key)


async def publish_more(run: Run, events: int, subjects: int) -> None:
    """Publish `events` more events of the same subjects to the run's ingress, after those
    published so far, and record them in `run.published`."""
    first = len(run.published)
    run.published += await _publish(
        run.connection, run.ingress, run.key, range(first, first + events), subjects
    )


async def _publish(
    connection: KafkaConnection,
    topic: str,
    key: AgencySigningKey,
    numbers: range,
    subjects: int,
) -> list[tuple[str, str]]:
    producer = AIOKafkaProducer(
        **connection.aiokafka_kwargs(), acks="all", enable_idempotence=True, linger_ms=20
    )
    await producer.start()
    published: list[tuple[str, str]] = []
    try:
        pending = []
        for i in numbers:
            subject = f"P-{i % subjects:04d}-0000"
            record = ingress_record(issue_event(address_changed(subject, new_address=MUNICH), key))
            pending.append(
                await producer.send(topic, record.value, key=record.key, headers=record.headers)
            )
            published.append((header_map(record.headers)["ce_id"], subject))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return published


async def committed_input(run: Run) -> tuple[int, int]:
    """(input records committed by the enforcer group, input records in all)."""
    probe = AIOKafkaConsumer(
        **run.connection.aiokafka_kwargs(), group_id=run.group, enable_auto_commit=False
    )
    await probe.start()
    try:
        partitions = [TopicPartition(run.ingress, p) for p in range(PARTITIONS)]
        ends = await probe.end_offsets(partitions)
        committed = [await probe.committed(tp) or 0 for tp in partitions]
        return sum(committed), sum(ends.values())
    finally:
        await probe.stop()


async def all_input_committed(run: Run) -> bool:
    done, total = await committed_input(run)
    return done == total


def _stable_and_high(admin: KafkaAdmin, topics: list[str]) -> dict[str, tuple[int, int]]:
    """`topic/partition` → (last stable offset, high watermark)."""
    ends = {}
    for topic in topics:
        stable = admin.end_offsets(topic, PARTITIONS, committed_only=True)
        high = admin.end_offsets(topic, PARTITIONS, committed_only=False)
        ends.update({f"{topic}/{p}": (stable[p], high[p]) for p in range(PARTITIONS)})
    return ends


def open_transactions(admin: KafkaAdmin, topics: list[str]) -> list[str]:
    """Partitions whose last stable offset lags the high watermark: a transaction still open."""
    return [tp for tp, (stable, high) in _stable_and_high(admin, topics).items() if stable != high]


async def pinned_transactions(admin: KafkaAdmin, topics: list[str], settle_s: float) -> list[str]:
    """Partitions whose last stable offset lags the high watermark and does not move for
    `settle_s`: a transaction that nobody is finishing (a killed worker's, until its successor
    fences it). A live worker's transactions commit within a batch and move it."""
    before = _stable_and_high(admin, topics)
    await asyncio.sleep(settle_s)
    return [
        tp
        for tp, (stable, high) in _stable_and_high(admin, topics).items()
        if stable == before[tp][0] and stable != high
    ]


async def check_exactly_once(run: Run) -> int:
    """Assert exactly-once delivery in per-subject order and exactly-once auditing; return how
    many aborted (invisible) delivery records the run left behind."""
    order: dict[str, list[str]] = defaultdict(list)
    for event_id, subject in run.published:
        order[subject].append(event_id)
    aborted = 0
    for consumer in run.consumers:
        topic = delivery_topic(consumer, "tax")
        delivered = await read_topic(run.connection, topic)
        ids = [header_map(r.headers)["ce_id"] for r in delivered]
        duplicates = [i for i, n in Counter(ids).items() if n > 1]
        assert not duplicates, f"{len(duplicates)} events delivered twice to {consumer}"
        missing = {i for i, _ in run.published} - set(ids)
        assert not missing, f"{consumer} misses {len(missing)} events"
        per_subject: dict[str, list[str]] = defaultdict(list)
        for record in delivered:
            per_subject[record.key.decode()].append(header_map(record.headers)["ce_id"])
        assert per_subject == order, f"per-subject order broken for {consumer}"
        everything = await read_topic(run.connection, topic, isolation_level="read_uncommitted")
        aborted += len(everything) - len(delivered)
    audits = [json.loads(r.value) for r in await read_topic(run.connection, AUDIT_TOPIC)]
    # Decisions on a subscription; an input refused as a whole (a producer's retry of an event
    # that had arrived: DUPLICATE_EVENT) names no consumer and delivers nothing.
    ours = Counter(
        (a["event_id"], a["consumer"])
        for a in audits
        if a["input"]["topic"] == run.ingress and a["consumer"] is not None
    )
    assert len(ours) == len(run.published) * len(run.consumers), "decisions missing from the audit"
    assert set(ours.values()) == {1}, "some decision was audited more than once"
    outputs = [delivery_topic(c, "tax") for c in run.consumers]
    assert open_transactions(run.admin, outputs) == [], "a transaction was left open"
    return aborted
