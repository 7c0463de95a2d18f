"""(d) Transactions work on this broker with aiokafka: a consume→produce loop that aborts every third
transaction leaves a read_committed reader with every input exactly once and no aborted record."""

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bus.kafka.connection import KafkaConnection
from tests.support.kafka import read_topic, unique_name

RECORDS = 300
PARTITIONS = 2
BATCH = 10
ABORT_EVERY = 3
ABORTED_MARK = b"ABORTED:"


async def _fill(connection: KafkaConnection, topic: str) -> dict[int, list[bytes]]:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    sent: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    try:
        for seq in range(RECORDS):
            value = f"seq-{seq:05d}".encode()
            await producer.send_and_wait(topic, value, partition=seq % PARTITIONS)
            sent[seq % PARTITIONS].append(value)
    finally:
        await producer.stop()
    return sent


async def _rewind_to_committed(consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
    # After an abort the consumer's position does not move back by itself (KAFKA-17582).
    for tp in partitions:
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


async def _copy_with_aborts(connection: KafkaConnection, source: str, target: str) -> int:
    """Copy source → target partition by partition; returns how many transactions were aborted."""
    group = unique_name("copier")
    consumer = AIOKafkaConsumer(
        source,
        **connection.aiokafka_kwargs(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), transactional_id=unique_name("tx"))
    await consumer.start()
    await producer.start()
    transactions = aborted = 0
    try:
        while batch := await consumer.getmany(timeout_ms=3000, max_records=BATCH):
            transactions += 1
            abort = transactions % ABORT_EVERY == 0
            await producer.begin_transaction()
            for tp, records in batch.items():
                for record in records:
                    value = ABORTED_MARK + record.value if abort else record.value
                    await producer.send(target, value, partition=tp.partition)
            offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
            await producer.send_offsets_to_transaction(offsets, group)
            if abort:
                await producer.abort_transaction()
                await _rewind_to_committed(consumer, set(batch))
                aborted += 1
            else:
                await producer.commit_transaction()
    finally:
        await producer.stop()
        await consumer.stop()
    return aborted


async def test_read_committed_sees_committed_records_once_and_no_aborted_ones(
    kafka_broker: KafkaConnection, topic_factory: Callable[..., str]
) -> None:
    source = topic_factory("in", partitions=PARTITIONS)
    target = topic_factory("out", partitions=PARTITIONS)
    sent = await _fill(kafka_broker, source)

    aborted = await _copy_with_aborts(kafka_broker, source, target)
    assert aborted >= RECORDS // BATCH // ABORT_EVERY

    committed = await read_topic(kafka_broker, target, isolation_level="read_committed")
    for partition, values in sent.items():
        # Every input exactly once, in its partition's order, and nothing from an aborted transaction.
        assert [r.value for r in committed if r.partition == partition] == values

    # Control: the aborted records really were written; only read_committed hides them.
    uncommitted = await read_topic(kafka_broker, target, isolation_level="read_uncommitted")
    assert sum(r.value.startswith(ABORTED_MARK) for r in uncommitted) >= aborted
