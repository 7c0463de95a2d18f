"""The policy in force is the newest VALID record on the policy topic not withdrawn by a later
tombstone under its key: a record that is not a policy set, or one whose key is not its content hash
is refused (and reported); a tombstone never loops or crashes the reader; what is in force is the
same before and after compaction; with nothing valid there is no policy (the enforcer pauses)."""

import asyncio
from dataclasses import replace
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bus.control import policy_store
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import canonical_bytes, compile_snapshot
from tests.support.kafka import unique_name
from tests.support.policy_sets import ungoverned

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
# Before the fix a tombstone made `latest` loop forever: a bound turns that into a failure.
READ_BOUND_S = 60


async def _write(
    connection: KafkaConnection, topic: str, records: list[tuple[bytes, bytes | None]]
) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def _valid() -> tuple[bytes, bytes]:
    document = canonical_bytes(ungoverned(load_policy_set(REFERENCE)))
    return policy_store.snapshot_key(document), document


def _another() -> tuple[bytes, bytes]:
    """A second valid set: the reference set without its last grant."""
    policy = ungoverned(load_policy_set(REFERENCE))
    grants = policy.grants.model_copy(update={"grants": policy.grants.grants[:-1]})
    document = canonical_bytes(replace(policy, grants=grants))
    return policy_store.snapshot_key(document), document


def _policy_topic(admin: KafkaAdmin) -> str:
    topic = unique_name("policy")
    admin.create_topics([topic], partitions=1, config={"cleanup.policy": "compact"})
    return topic


async def test_a_tombstone_as_the_newest_record_leaves_the_policy_before_it_in_force(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin
) -> None:
    topic = _policy_topic(kafka_admin)
    key, document = _valid()
    await _write(kafka_broker, topic, [(key, document), (b"sha256:withdrawn", None)])

    in_force = await asyncio.wait_for(policy_store.latest(kafka_broker, topic), READ_BOUND_S)

    assert in_force is not None
    assert compile_snapshot(in_force).hash == key.decode()
    kafka_admin.delete_topics([topic])


async def test_malformed_newest_records_are_refused_and_the_last_valid_policy_stays(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin
) -> None:
    topic = _policy_topic(kafka_admin)
    key, document = _valid()
    not_a_set = b'{"territories": [], "agencies": 5}'
    await _write(
        kafka_broker,
        topic,
        [
            (key, document),
            (b"sha256:garbage", b"\xff not json"),
            (policy_store.snapshot_key(not_a_set), not_a_set),
            # A valid set under another set's key: the key must be the content's own hash.
            (b"sha256:" + b"0" * 64, document),
            (b"sha256:tombstone", None),
        ],
    )

    in_force = await asyncio.wait_for(policy_store.latest(kafka_broker, topic), READ_BOUND_S)
    assert in_force is not None
    assert compile_snapshot(in_force).hash == key.decode()

    reading = await policy_store.read_in_force(kafka_broker, topic)
    assert reading.offset == 0
    assert [r.offset for r in reading.refused] == [3, 2, 1]  # a tombstone is no malformed record
    reasons = [r.reason for r in reading.refused]
    assert "key" in reasons[0]
    assert "agencies" in reasons[1]
    assert "JSON" in reasons[2]
    assert reading.withdrawn == ()  # the tombstone's key names no set
    kafka_admin.delete_topics([topic])


async def test_with_no_valid_record_no_policy_is_in_force(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin
) -> None:
    topic = _policy_topic(kafka_admin)
    await _write(kafka_broker, topic, [(b"sha256:x", b"[]"), (b"sha256:y", None)])

    reading = await asyncio.wait_for(policy_store.read_in_force(kafka_broker, topic), READ_BOUND_S)

    assert reading.policy is None
    assert [r.offset for r in reading.refused] == [0]


async def test_a_withdrawn_set_is_out_of_force_before_and_after_compaction(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin
) -> None:
    """[v1, v2, tombstone(v2)] is what compaction turns into [v1, tombstone(v2)]: both put v1 in
    force (a tombstone withdraws its key's set; it is not a refused record)."""
    v1, v2 = _valid(), _another()
    uncompacted, compacted = _policy_topic(kafka_admin), _policy_topic(kafka_admin)
    await _write(kafka_broker, uncompacted, [v1, v2, (v2[0], None)])
    await _write(kafka_broker, compacted, [v1, (v2[0], None)])

    for topic in (uncompacted, compacted):
        reading = await asyncio.wait_for(
            policy_store.read_in_force(kafka_broker, topic), READ_BOUND_S
        )
        assert reading.policy is not None, topic
        assert compile_snapshot(reading.policy).hash == v1[0].decode(), topic
        assert reading.refused == ()
    reading = await policy_store.read_in_force(kafka_broker, uncompacted)
    assert [(w.key, w.offset, w.tombstone_offset) for w in reading.withdrawn] == [(v2[0], 1, 2)]
    kafka_admin.delete_topics([uncompacted, compacted])
