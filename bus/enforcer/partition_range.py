"""Read one partition's records in [low, high) with a consumer of its own: how the enforcer
rebuilds what it keeps in memory (seen-event ids, interest markers) from Kafka at set-up."""

import time
from collections.abc import Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from bus.errors import BrokerError

_TIMEOUT_S = 30.0


def read_range(
    reader: Consumer, topic: str, partition: int, low: int, high: int
) -> Iterator[Message]:
    """The records of [low, high) (`low` may be OFFSET_BEGINNING): read until a record at or past
    `high`, or the partition's end (a commit marker at high - 1 has no record to show)."""
    reader.assign([TopicPartition(topic, partition, low)])
    deadline = time.monotonic() + _TIMEOUT_S
    try:
        while True:
            message = reader.poll(0.5)
            if message is None:
                position = reader.position([TopicPartition(topic, partition)])[0]
                if position.offset >= high:
                    return
                if time.monotonic() > deadline:
                    raise BrokerError(f"reading {topic}/{partition} timed out")
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return
                raise KafkaException(error)
            offset = message.offset() or 0
            if offset >= high:
                return
            yield message
            if offset == high - 1:
                return
    finally:
        reader.unassign()
