"""The loop's view of what it consumed: a librdkafka message as the pipeline's InRecord, and where
a record or a batch is in the input (`topic/partition@offset`, as the logs and quarantine headers
name it)."""

import operator
from collections.abc import Sequence

from confluent_kafka import Message

from bus.enforcer.pipeline import InRecord
from bus.kafka.position import record_position

Batch = list[InRecord]  # fetched records of one input partition, in order
# confluent-kafka 2.16.1 puts NULL into a header's tuple when its name is not UTF-8 (the broker
# takes any bytes; a hostile producer can send them) and returns the list with the decode error
# still set. Called as `message.headers()`, CPython's specialised call skips the check, and the
# first touch of that tuple crashes the process (a segfault, seen here). Called through
# methodcaller, CPython checks the result and raises SystemError instead. Call it once per
# message: a second call returns the cached, broken list without raising.
_checked_headers = operator.methodcaller("headers")


def in_record(message: Message, partition_count: int) -> InRecord:
    """`message` for process(); `partition_count`: its topic's partitions (a record must be on
    its key's partition). Raises if the client cannot decode its headers (a name that is not
    UTF-8): the loop quarantines such a record unread."""
    return InRecord(
        message.topic() or "",
        message.partition() or 0,
        message.offset() or 0,
        message.key(),
        message.value(),
        _headers(message),
        partition_count,
    )


def partition_of_message(message: Message) -> tuple[str, int]:
    """The input partition (topic, number) `message` was fetched from."""
    return (message.topic() or "", message.partition() or 0)


def position(record: InRecord) -> str:
    """Where `record` is in the input."""
    return record_position(record.topic, record.partition, record.offset)


def batch_range(records: Sequence[InRecord]) -> str:
    """Where a batch is in the input: its first record's position to its last offset."""
    return f"{position(records[0])}-{records[-1].offset}"


def _headers(message: Message) -> list[tuple[str, bytes | None]]:
    """The record's headers as Kafka carries them: librdkafka hands out a list of pairs whose
    values are bytes or None."""
    headers = _checked_headers(message)
    if not isinstance(headers, list):  # the stubs allow a dict; the consumer gives a list
        return []
    return [(name, value.encode() if isinstance(value, str) else value) for name, value in headers]
