"""Read partitions' records in [low, high) with a consumer of its own: how the enforcer rebuilds
what it keeps in memory (seen-event ids, interest markers) from Kafka at set-up, and how the
watch reads records faust skipped (bus/watch/head_gap.py)."""

import time
from collections.abc import Iterator, Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from bus.errors import BrokerError
from bus.kafka.connection import KafkaConnection

_TIMEOUT_S = 30.0
_BATCH = 1000  # records per consume(): one call per record would cost more than reading them
Partition = tuple[str, int]


def range_reader(connection: KafkaConnection, group: str) -> Consumer:
    """A consumer for `read_range(s)`: assigned by hand, read_committed, never committing."""
    return Consumer(
        {
            **connection.confluent_config(),
            "group.id": group,  # required by the client; nothing is ever committed
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )


def read_range(
    reader: Consumer, topic: str, partition: int, low: int, high: int
) -> Iterator[Message]:
    """The records of [low, high) of one partition (`low` may be OFFSET_BEGINNING)."""
    return read_ranges(reader, {(topic, partition): (low, high)})


def read_ranges(reader: Consumer, ranges: Mapping[Partition, tuple[int, int]]) -> Iterator[Message]:
    """The records of each partition's [low, high), all partitions read at once, each in order:
    read until a record at or past `high`, or the partition's end (a commit marker at high - 1
    has no record to show)."""
    open_ranges = {tp: high for tp, (low, high) in ranges.items() if high > max(low, 0)}
    if not open_ranges:
        return
    assigned = [TopicPartition(t, p, ranges[(t, p)][0]) for t, p in open_ranges]
    reader.assign(assigned)
    reader.resume(assigned)  # librdkafka keeps a partition paused across assignments
    deadline = time.monotonic() + _TIMEOUT_S
    try:
        while open_ranges:
            messages = reader.consume(_BATCH, 0.5)
            if not messages:
                positions = reader.position([TopicPartition(t, p) for t, p in open_ranges])
                for position in positions:
                    if position.offset >= open_ranges[(position.topic, position.partition)]:
                        _close(reader, open_ranges, (position.topic, position.partition))
                if open_ranges and time.monotonic() > deadline:
                    raise BrokerError(f"reading {sorted(open_ranges)} timed out")
                continue
            deadline = time.monotonic() + _TIMEOUT_S  # a timeout for silence, not for size
            for message in messages:
                tp = (message.topic() or "", message.partition() or 0)
                high = open_ranges.get(tp)
                if high is None:
                    continue  # finished, or fetched before it was let go
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        _close(reader, open_ranges, tp)
                        continue
                    raise KafkaException(error)
                offset = message.offset() or 0
                if offset >= high:
                    _close(reader, open_ranges, tp)
                    continue
                yield message
                if offset == high - 1:
                    _close(reader, open_ranges, tp)
    finally:
        reader.unassign()


def _close(reader: Consumer, open_ranges: dict[Partition, int], tp: Partition) -> None:
    del open_ranges[tp]
    reader.pause([TopicPartition(*tp)])  # read no further: the rest is the loop's
