"""Rebuild the interest markers of marker partitions being set up: every marker their topic
holds below the offset where processing resumes (those were audited when first read; the loop
audits and applies what follows). The topic is compacted, so this reads each person's latest
marker, not every change ever made.
"""

from confluent_kafka import OFFSET_BEGINNING

from bus.enforcer.interest_markers import Partition
from bus.kafka.connection import KafkaConnection
from bus.kafka.key_partition import key_partition
from bus.kafka.partition_range import range_reader, read_ranges
from bus.record.interest_marker import MarkerError, read_marker, read_subject


def read_markers(
    connection: KafkaConnection,
    group: str,
    ends: dict[Partition, int],
    partition_counts: dict[str, int],
) -> dict[Partition, dict[str, float]]:
    """Subject → expiry per marker partition, from the records below `ends[tp]`."""
    found: dict[Partition, dict[str, float]] = {tp: {} for tp in ends}
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    if not wanted:
        return found
    reader = range_reader(connection, f"{group}.interest-reader")
    try:
        ranges = {tp: (OFFSET_BEGINNING, end) for tp, end in wanted.items()}
        for message in read_ranges(reader, ranges):
            tp = (message.topic() or "", message.partition() or 0)
            _replay(message.key(), message.value(), tp, partition_counts.get(tp[0], 0), found[tp])
    finally:
        reader.close()
    return found


def _replay(
    key: bytes | None,
    value: bytes | None,
    tp: Partition,
    partition_count: int,
    markers: dict[str, float],
) -> None:
    """One record as the loop applied it when it first read it; a record it quarantined then
    changes nothing now."""
    try:
        if partition_count and key_partition(key or b"", partition_count) != tp[1]:
            return
        if value is None:
            markers.pop(read_subject(key), None)
        else:
            subject, expires = read_marker(key, value)
            markers[subject] = expires
    except MarkerError:
        return
