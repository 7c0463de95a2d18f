"""Crash test: kill -9 the enforcer at random moments while 20,000 events flow, restart it each
time; afterwards every permitted event reached each consumer exactly once and in per-subject
order, every decision was audited exactly once, no transaction is left open and nothing is left
unprocessed."""

import asyncio
import json
import random
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bus.catalog.population import Address
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.keys import AgencySigningKey
from bus.topics import AUDIT_TOPIC, delivery_topic
from bus.topology import ensure_bus_topics
from policies.facts import Subscription
from tests.support.events import address_changed
from tests.support.kafka import read_topic, unique_name

pytestmark = pytest.mark.integration
TYPE = "population.AddressChanged"
EVENTS, SUBJECTS, PARTITIONS, KILLS = 20_000, 400, 3, 5
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)


async def _publish(
    connection: KafkaConnection, topic: str, key: AgencySigningKey
) -> list[tuple[str, str]]:
    """(event id, subject) in publish order; each subject's events go to one partition in order."""
    producer = AIOKafkaProducer(
        **connection.aiokafka_kwargs(), acks="all", enable_idempotence=True, linger_ms=20
    )
    await producer.start()
    published: list[tuple[str, str]] = []
    try:
        pending = []
        for i in range(EVENTS):
            subject = f"P-{i % SUBJECTS:04d}-0000"
            record = ingress_record(issue_event(address_changed(subject, new_address=MUNICH), key))
            pending.append(
                await producer.send(topic, record.value, key=record.key, headers=record.headers)
            )
            published.append((header_map(record.headers)["ce_id"], subject))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return published


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.enforcer_process", str(config)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def _committed_everything(connection: KafkaConnection, topic: str, group: str) -> bool:
    probe = AIOKafkaConsumer(
        **connection.aiokafka_kwargs(), group_id=group, enable_auto_commit=False
    )
    await probe.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await probe.end_offsets(partitions)
        committed = [await probe.committed(tp) or 0 for tp in partitions]
        return committed == [ends[tp] for tp in partitions]
    finally:
        await probe.stop()


def _open_transactions(admin: KafkaAdmin, topics: list[str]) -> list[str]:
    """Partitions whose last stable offset lags the high watermark: a transaction still open."""
    lagging = []
    for topic in topics:
        stable = admin.end_offsets(topic, PARTITIONS, committed_only=True)
        high = admin.end_offsets(topic, PARTITIONS, committed_only=False)
        lagging += [f"{topic}/{p}" for p in range(PARTITIONS) if stable[p] != high[p]]
    return lagging


async def test_kill_9_at_random_moments_loses_nothing_and_duplicates_nothing(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    consumers = [unique_name("tax-a"), unique_name("tax-b")]
    key = AgencySigningKey.generate("muni-muc")
    ingress = topic_factory("ingress", partitions=PARTITIONS)
    ensure_bus_topics(
        kafka_admin, [Subscription(c, TYPE, "tax") for c in consumers], partitions=PARTITIONS
    )
    published = await _publish(kafka_broker, ingress, key)
    group = unique_name("enforcer")
    config = tmp_path / "enforcer.json"
    config.write_text(json.dumps({
        "bootstrap": kafka_broker.bootstrap, "username": kafka_broker.username,
        "password": kafka_broker.password, "ingress": ingress, "group": group,
        "consumers": consumers, "producer": "muni-muc", "producer_public_pem": key.public_pem().decode(),
    }))  # fmt: skip
    log = tmp_path / "enforcer.log"

    rng = random.Random(20261123)
    process = _start(config, log)
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(3.0, 7.0))
        process.kill()  # SIGKILL: no cleanup, mid-transaction more often than not
        process.wait()
        process = _start(config, log)
    try:
        for _ in range(600):
            if await _committed_everything(kafka_broker, ingress, group):
                break
            assert process.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(1)
        else:
            pytest.fail(f"not all input was processed; enforcer log:\n{log.read_text()[-3000:]}")
    finally:
        process.terminate()
        process.wait(timeout=60)

    order: dict[str, list[str]] = defaultdict(list)
    for event_id, subject in published:
        order[subject].append(event_id)
    aborted_somewhere = 0
    for consumer in consumers:
        topic = delivery_topic(consumer, "tax")
        delivered = await read_topic(kafka_broker, topic)
        ids = [header_map(r.headers)["ce_id"] for r in delivered]
        duplicates = [i for i, n in Counter(ids).items() if n > 1]
        assert not duplicates, f"{len(duplicates)} events delivered twice to {consumer}"
        assert set(ids) == {i for i, _ in published}, (
            f"{consumer} misses {EVENTS - len(set(ids))} events"
        )
        per_subject: dict[str, list[str]] = defaultdict(list)
        for record in delivered:
            per_subject[record.key.decode()].append(header_map(record.headers)["ce_id"])
        assert per_subject == order, f"per-subject order broken for {consumer}"
        everything = await read_topic(kafka_broker, topic, isolation_level="read_uncommitted")
        aborted_somewhere += len(everything) - len(delivered)

    audits = [json.loads(r.value) for r in await read_topic(kafka_broker, AUDIT_TOPIC)]
    ours = Counter((a["event_id"], a["consumer"]) for a in audits if a["input"]["topic"] == ingress)
    assert len(ours) == EVENTS * len(consumers)
    assert set(ours.values()) == {1}, "some decision was audited more than once"
    outputs = [delivery_topic(c, "tax") for c in consumers]
    assert _open_transactions(kafka_admin, outputs) == []
    # The kills did interrupt transactions: their writes exist, aborted, invisible to read_committed.
    assert aborted_somewhere > 0
