"""Policy sets on the bus: `bus policy apply` publishes the normalised set to a compacted topic;
every enforcer instance reads the latest and switches to it between two batches."""

import hashlib
import json
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.topics import POLICY_TOPIC
from policies.documents import (
    AgenciesFile,
    GrantsFile,
    ProducersFile,
    PurposesFile,
    TerritoriesFile,
)
from policies.loader import PolicySet
from policies.snapshot import canonical_bytes

SOURCE = Path(f"kafka:{POLICY_TOPIC}")


def ensure_policy_topic(admin: KafkaAdmin) -> None:
    admin.ensure_topics([POLICY_TOPIC], partitions=1, config={"cleanup.policy": "compact"})


async def publish(connection: KafkaConnection, policy_set: PolicySet) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        # Keyed by content hash, so compaction keeps every version ever applied (the audit trail
        # replays decisions under the snapshot they were made with); the newest record is still
        # the set in force.
        document = canonical_bytes(policy_set)
        await producer.send_and_wait(POLICY_TOPIC, document, key=snapshot_key(document))
    finally:
        await producer.stop()


async def latest(connection: KafkaConnection) -> PolicySet | None:
    """The last policy set applied, or None if none was (then the enforcer denies everything)."""
    consumer = AIOKafkaConsumer(**connection.aiokafka_kwargs(), enable_auto_commit=False)
    tp = TopicPartition(POLICY_TOPIC, 0)
    consumer.assign([tp])
    await consumer.start()
    value: bytes | None = None
    try:
        end = (await consumer.end_offsets([tp]))[tp]
        if end == 0:
            return None
        consumer.seek(tp, end - 1)  # the last record applied is the set in force
        while value is None:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                value = records[-1].value if records else value
    finally:
        await consumer.stop()
    return from_document(json.loads(value))


def snapshot_key(document: bytes) -> bytes:
    """The snapshot hash of a published policy document (as `content_hash` computes it)."""
    return ("sha256:" + hashlib.sha256(document).hexdigest()).encode()


def from_document(document: dict[str, Any]) -> PolicySet:
    return PolicySet(
        directory=SOURCE,
        territories=TerritoriesFile.model_validate({"territories": document["territories"]}),
        agencies=AgenciesFile.model_validate({"agencies": document["agencies"]}),
        purposes=PurposesFile.model_validate({"purposes": document["purposes"]}),
        producers=ProducersFile.model_validate({"producers": document["producers"]}),
        grants=GrantsFile.model_validate({"grants": document["grants"]}),
    )
