"""The partition a keyed record belongs on: Kafka's default partitioner, as the Java client and
aiokafka compute it (librdkafka's `murmur2_random`; its own default, `consistent_random`, differs).

The enforcer requires it of every ingress record: its memory of accepted events is per input
partition, so a republication written to another partition would otherwise escape it, and one
person's events would lose their order.
"""

from aiokafka.partitioner import murmur2


def key_partition(key: bytes, partition_count: int) -> int:
    """The partition, of `partition_count`, on which Kafka's default partitioner puts `key`."""
    # Exactly aiokafka's DefaultPartitioner for a non-null key (aiokafka/partitioner.py).
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partition_count
