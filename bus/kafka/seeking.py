"""Resuming a group-less reader where a store of its own stopped."""

from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition


async def seek_to_stored(
    consumer: AIOKafkaConsumer,
    partitions: Iterable[TopicPartition],
    stored: Mapping[tuple[str, int], int],
) -> None:
    """Seek each of `partitions` to its next offset in `stored` (topic, partition → offset); a
    partition the store has never read starts at its beginning."""
    for tp in partitions:
        if (tp.topic, tp.partition) in stored:
            consumer.seek(tp, stored[(tp.topic, tp.partition)])
        else:
            await consumer.seek_to_beginning(tp)
