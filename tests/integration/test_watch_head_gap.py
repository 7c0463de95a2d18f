"""The watch reads the records faust skipped at a partition's head itself (bus/watch/head_gap.py),
on the real broker: what lies between the group's committed offset and the first record handed
over, read_committed; nothing for a transaction's marker or aborted records, nothing twice."""

import secrets
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bus.kafka.connection import KafkaConnection
from bus.watch.head_gap import HeadGaps, ReadAgain

AT_MS = int(time.time()) // 60 * 60_000  # whole minutes: exact as seconds too


def handed(topic: str, offset: int) -> ReadAgain:
    """A record as faust hands it over (only its position matters here)."""
    return ReadAgain(topic, 0, offset, None, 0.0)


async def write(connection: KafkaConnection, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, timestamp_ms=AT_MS)
    finally:
        await producer.stop()


async def commit(connection: KafkaConnection, group: str, topic: str, offset: int) -> None:
    consumer = AIOKafkaConsumer(
        **connection.aiokafka_kwargs(), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


async def test_the_records_between_the_committed_offset_and_the_first_handed_are_read_again(
    kafka_broker: KafkaConnection, topic_factory: Callable[..., str]
) -> None:
    topic, group = topic_factory("audit"), f"bus-watch-t{secrets.token_hex(4)}"
    await write(kafka_broker, topic, [b"r0", b"r1", b"r2", b"r3", b"r4"])
    await commit(kafka_broker, group, topic, 2)
    gaps = HeadGaps(kafka_broker, group)

    found = await gaps.missed([handed(topic, 4)])

    assert [(r.offset, r.value, r.timestamp) for r in found] == [
        (2, b"r2", AT_MS / 1000),
        (3, b"r3", AT_MS / 1000),
    ]
    assert await gaps.missed([handed(topic, 4)]) == []  # the head is checked once
    gaps.assigned([TopicPartition(topic, 0)])
    assert await gaps.missed([handed(topic, 2)]) == []  # handed from the committed offset


async def test_without_a_commit_the_head_is_the_log_start(
    kafka_broker: KafkaConnection, topic_factory: Callable[..., str]
) -> None:
    topic, group = topic_factory("audit"), f"bus-watch-t{secrets.token_hex(4)}"
    await write(kafka_broker, topic, [b"r0", b"r1", b"r2"])

    found = await HeadGaps(kafka_broker, group).missed([handed(topic, 1)])

    assert [r.value for r in found] == [b"r0"]


async def test_a_transaction_marker_and_aborted_records_are_no_gap(
    kafka_broker: KafkaConnection, topic_factory: Callable[..., str]
) -> None:
    """As the enforcer writes the audit topic: an aborted transaction (two records and a marker)
    before the committed record; faust's first record after the commit is a legitimate jump."""
    topic, group = topic_factory("audit"), f"bus-watch-t{secrets.token_hex(4)}"
    producer = AIOKafkaProducer(
        **kafka_broker.aiokafka_kwargs(), transactional_id=f"{topic}-{secrets.token_hex(3)}"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send(topic, b"aborted-1")
        await producer.send(topic, b"aborted-2")
        await producer.abort_transaction()
        await producer.begin_transaction()
        await producer.send(topic, b"committed")
        await producer.commit_transaction()
    finally:
        await producer.stop()
    await commit(kafka_broker, group, topic, 0)

    # offsets 0, 1 aborted, 2 the abort marker, 3 the committed record, 4 its marker
    assert await HeadGaps(kafka_broker, group).missed([handed(topic, 3)]) == []
