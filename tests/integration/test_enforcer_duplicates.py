"""Issue 12: a register that publishes the same (source, event id) again gets it quarantined as
DUPLICATE_EVENT, also after the enforcer restarted (its memory is rebuilt from the journal its
transactions wrote), and the consumer receives the event once."""

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest
from aiokafka import AIOKafkaProducer

from bus.control.topology import ensure_bus_topics
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.seen_events import SeenEvents
from bus.enforcer.seen_journal import (
    SeenEventsConfig,
    ensure_journals,
    journal,
    rebuild,
    seen_events_topic,
)
from bus.enforcer.service import Enforcer
from bus.enforcer.txn_producer import TransactionalProducer
from bus.envelope.kafka_binding import header_map
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.key_partition import key_partition
from bus.kafka.topics import AUDIT_TOPIC, QUARANTINE_TOPIC, delivery_topic
from bus.keys import AgencySigningKey
from bus.policy.facts import Subscription
from tests.support.enforcer_loop import run_until
from tests.support.enforcer_process import state_for
from tests.support.kafka import read_topic, unique_name
from tests.support.poison_records import TYPE, good_record

Record = tuple[str, bytes, bytes, list[tuple[str, bytes | None]]]


class Republisher(NamedTuple):
    """A register's key and its own two-partition ingress topic, one consumer subscribed to TYPE
    for "tax", and the enforcer group and state that decide for it."""

    ingress: str
    consumer: str
    group: str
    key: AgencySigningKey
    state: EnforcerState


@pytest.fixture
def republisher(kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]) -> Republisher:
    ingress = topic_factory("ingress", partitions=2)
    consumer, group = unique_name("tax"), unique_name("enforcer")
    key = AgencySigningKey.generate("muni-muc")
    state = state_for(
        {
            "consumers": [consumer],
            "producer": "muni-muc",
            "producer_public_pem": key.public_pem().decode(),
            "ingress": ingress,
        }
    )
    ensure_bus_topics(kafka_admin, [Subscription(consumer, TYPE, "tax")], partitions=2)
    return Republisher(ingress, consumer, group, key, state)


async def test_a_republished_event_is_quarantined_after_a_restart(
    kafka_broker: KafkaConnection, republisher: Republisher
) -> None:
    ingress, consumer, group, key, state = republisher
    first, other = good_record(key, "P-0001-0000"), good_record(key, "P-0002-0000")

    await _publish(kafka_broker, ingress, [first])
    await _run(kafka_broker, ingress, group, state, until=1)
    # A new enforcer process of the same group: it knows `first` only from the journal.
    await _publish(kafka_broker, ingress, [first, other])
    await _run(kafka_broker, ingress, group, state, until=2)

    delivered = await read_topic(kafka_broker, delivery_topic(consumer, "tax"))
    assert sorted(header_map(r.headers)["ce_id"] for r in delivered) == sorted([first[0], other[0]])
    quarantined = [
        header_map(r.headers)
        for r in await read_topic(kafka_broker, QUARANTINE_TOPIC)
        if header_map(r.headers)["bus_input"].startswith(f"{ingress}/")
    ]
    assert [q["bus_quarantine_reason"] for q in quarantined] == ["DUPLICATE_EVENT"]
    assert q_detail_names_first(quarantined[0]["bus_quarantine_detail"], ingress)
    audits = [
        json.loads(r.value)
        for r in await read_topic(kafka_broker, AUDIT_TOPIC)
        if json.loads(r.value)["input"]["topic"] == ingress
    ]
    refused = [a for a in audits if a["outcome"] == "QUARANTINED"]
    assert [(a["event_id"], a["producer"], a["reasons"]) for a in refused] == [
        (first[0], "muni-muc", ["DUPLICATE_EVENT"])
    ]


async def test_a_republication_to_another_partition_is_quarantined(
    kafka_broker: KafkaConnection, republisher: Republisher
) -> None:
    # A hostile register writes the copy to the partition its key does not map to, where the
    # memory of accepted events would not know it: refused for its partition instead.
    ingress, consumer, group, key, state = republisher
    event = good_record(key, "P-0003-0000")
    await _publish(kafka_broker, ingress, [event])
    await _publish(kafka_broker, ingress, [event], partition=1 - key_partition(event[1], 2))
    await _run(kafka_broker, ingress, group, state, until=2)

    delivered = await read_topic(kafka_broker, delivery_topic(consumer, "tax"))
    assert [header_map(r.headers)["ce_id"] for r in delivered] == [event[0]]
    reasons = [
        header_map(r.headers)["bus_quarantine_reason"]
        for r in await read_topic(kafka_broker, QUARANTINE_TOPIC)
        if header_map(r.headers)["bus_input"].startswith(f"{ingress}/")
    ]
    assert reasons == ["PARTITION_MISMATCH"]


def q_detail_names_first(detail: str, ingress: str) -> bool:
    # The republication points at the record that was accepted: same partition, offset 0.
    return "accepted before at" in detail and f"{ingress}/" in detail and detail.endswith("/0")


async def _publish(
    connection: KafkaConnection, topic: str, records: list[Record], partition: int | None = None
) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all")
    await producer.start()
    try:
        for _id, key, value, headers in records:
            await producer.send_and_wait(
                topic, value, key=key, headers=headers, partition=partition
            )
    finally:
        await producer.stop()


async def _run(
    connection: KafkaConnection, ingress: str, group: str, state: EnforcerState, until: int
) -> None:
    await run_until(Enforcer(connection, [ingress], lambda: state, group=group), until)


def test_the_journal_follows_its_ingress_topic_when_it_grows(
    kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    # Without it, records of a new ingress partition could not be journaled (nor delivered).
    ingress, group = topic_factory("ingress", partitions=1), unique_name("enforcer")
    ensure_journals(kafka_admin, group, [ingress], SeenEventsConfig())
    ensure_journals(kafka_admin, group, [ingress], SeenEventsConfig())  # idempotent
    assert kafka_admin.partition_count(seen_events_topic(group, ingress)) == 1
    kafka_admin.grow_partitions(ingress, 3)
    for _ in range(50):  # the growth reaches the client's metadata a moment later
        if kafka_admin.partition_count(ingress) == 3:
            break
        time.sleep(0.1)
    ensure_journals(kafka_admin, group, [ingress], SeenEventsConfig())
    # The broker's metadata may show the old count for a moment after a growth.
    deadline = time.monotonic() + 10
    while kafka_admin.partition_count(seen_events_topic(group, ingress)) != 3:
        assert time.monotonic() < deadline, "the journal did not grow with its ingress topic"
        time.sleep(0.1)


async def test_a_restart_remembers_as_many_ids_as_the_horizon_holds(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    # One id per transaction (as a partition going one record at a time writes): each commit
    # marker takes an offset too, so reading back `capacity` offsets found half the ids.
    ingress, group = topic_factory("ingress", partitions=1), unique_name("enforcer")
    config = SeenEventsConfig(capacity=40)
    ensure_journals(kafka_admin, group, [ingress], config)
    tp = (ingress, 0)
    producer = TransactionalProducer(kafka_broker, unique_name("journal"))
    for offset in range(60):
        batch = SeenEvents(config.capacity).batch()
        assert batch.earlier_acceptance("muni-muc", f"id-{offset}", offset) is None
        producer.begin()
        journal(producer, group, tp, batch)
        producer.commit()
    producer.close()

    memory = rebuild(kafka_broker, group, [tp], config, datetime.now(UTC))[tp]
    assert len(memory) == 40
    remembered = [memory.accepted_at(memory.fingerprint("muni-muc", f"id-{o}")) for o in range(60)]
    assert remembered == [None] * 20 + list(range(20, 60))  # the newest 40, at their offsets


def test_the_journal_takes_the_configured_retention(
    kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    # A journal made under a longer horizon would otherwise keep it (and its ids) forever.
    ingress, group = topic_factory("ingress", partitions=1), unique_name("enforcer")
    ensure_journals(kafka_admin, group, [ingress], SeenEventsConfig())
    ensure_journals(kafka_admin, group, [ingress], SeenEventsConfig(max_age=timedelta(days=1)))
    config = kafka_admin.topic_config(seen_events_topic(group, ingress))
    assert config["retention.ms"] == str(24 * 3600 * 1000)
