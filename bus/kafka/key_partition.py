"""The partition a keyed record belongs on: Kafka's default partitioner, as the Java client and
aiokafka compute it (librdkafka's `murmur2_random`; its own default, `consistent_random`, differs).

The enforcer requires it of every ingress record: its memory of accepted events is per input
partition, so a republication written to another partition would otherwise escape it, and one
person's events would lose their order.
"""

from collections.abc import Callable

from aiokafka.partitioner import murmur2 as reference_murmur2

from bus.util import native

# The native hash where native/ is built (aiokafka's is pure Python, ~5 µs a key, once per
# event); tests/unit/test_native_murmur2.py holds the two equal.
murmur2: Callable[[bytes], int] = (
    native.govbus_native.murmur2 if native.NATIVE else reference_murmur2
)


def key_partition(key: bytes, partition_count: int) -> int:
    """The partition, of `partition_count`, on which Kafka's default partitioner puts `key`."""
    # Exactly aiokafka's DefaultPartitioner for a non-null key (aiokafka/partitioner.py).
    return (murmur2(key) & 0x7FFFFFFF) % partition_count
