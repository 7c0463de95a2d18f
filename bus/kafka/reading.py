"""Read a whole topic as it stands now: from the beginning up to the end offsets taken at start."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from bus.errors import BrokerError
from bus.kafka.connection import KafkaConnection


class TopicNotFoundError(BrokerError):
    """The topic does not exist (or the principal may not even see it)."""


@asynccontextmanager
async def topic_reader(
    connection: KafkaConnection, topic: str
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """A started read_committed consumer holding every partition of `topic`, and the partitions.
    Raises TopicNotFoundError, or the broker's authorization error."""
    async with topics_reader(connection, [topic]) as reader:
        yield reader


@asynccontextmanager
async def topics_reader(
    connection: KafkaConnection, topics: Sequence[str]
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """`topic_reader` over several topics at once (none found: TopicNotFoundError)."""
    # Topics but no group: every partition is assigned inside start, from a metadata request of
    # its own, and kept (a group-less *pattern* subscription is assigned later and re-assigned on
    # metadata updates, resetting positions mid-read). Nothing is committed.
    consumer = AIOKafkaConsumer(
        *topics,
        **connection.aiokafka_kwargs(),
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()  # inside: a start that fails (broker away) must still close it
        partitions = sorted(consumer.assignment())
        if not partitions:
            raise TopicNotFoundError(f"topics {', '.join(topics)} not found (or not readable)")
        yield consumer, partitions
    finally:
        await consumer.stop()


async def topic_names(connection: KafkaConnection, prefix: str) -> list[str]:
    """The topics whose names start with `prefix` that the principal may see, sorted."""
    consumer = AIOKafkaConsumer(**connection.aiokafka_kwargs(), enable_auto_commit=False)
    try:
        await consumer.start()
        return sorted(t for t in await consumer.topics() if t.startswith(prefix))
    finally:
        await consumer.stop()


async def read_all(
    connection: KafkaConnection, topic: str
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every committed record (read_committed), in order per partition. Raises TopicNotFoundError,
    or the broker's authorization error."""
    async with topic_reader(connection, topic) as (consumer, partitions):
        async for record in read_to_end(consumer, partitions):
            yield record


async def read_to_end(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """From the beginning of `partitions` up to their end offsets as of now, in order per partition."""
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    pending = {tp for tp in partitions if ends[tp] > 0}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=1000)
        for records in batches.values():
            for record in records:
                yield record
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
