"""The native murmur2 (native/) equals aiokafka's (the Java client's `Utils.murmur2`) on every key,
so the partition the enforcer requires of a record is the one every Kafka client's default
partitioner chose."""

import govbus_native
from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.kafka import key_partition


def test_partitions_are_computed_natively() -> None:
    assert key_partition.murmur2 is govbus_native.murmur2


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_native_murmur2_equals_the_reference(key: bytes) -> None:
    assert govbus_native.murmur2(key) == reference_murmur2(key)


def test_known_partitions_of_the_java_client() -> None:
    # Values of Kafka's own test (clients' UtilsTest.testMurmur2), as unsigned 32-bit integers.
    known = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}
    for key, signed in known.items():
        assert govbus_native.murmur2(key) == signed & 0xFFFFFFFF
