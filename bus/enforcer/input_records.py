"""The loop's view of what it consumed: a Kafka record as the pipeline's InRecord, and where a
record or a batch is in the input (`topic/partition@offset`, as the logs and quarantine headers
name it)."""

from aiokafka import ConsumerRecord

from bus.enforcer.pipeline import InRecord
from bus.kafka.position import record_position

Batch = list[ConsumerRecord[bytes, bytes]]  # fetched records of one input partition, in order


def in_record(record: ConsumerRecord[bytes, bytes], partition_count: int) -> InRecord:
    """`record` for process(); `partition_count`: its topic's partitions (a record must be on its
    key's partition)."""
    return InRecord(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        list(record.headers or ()),
        partition_count,
    )


def position(record: ConsumerRecord[bytes, bytes] | InRecord) -> str:
    """Where `record` is in the input."""
    return record_position(record.topic, record.partition, record.offset)


def batch_range(records: Batch) -> str:
    """Where a batch is in the input: its first record's position to its last offset."""
    return f"{position(records[0])}-{records[-1].offset}"
