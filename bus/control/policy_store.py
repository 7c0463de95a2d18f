"""Policy sets on the bus: `bus policy apply` publishes the normalised set to a compacted topic;
every enforcer instance reads the latest and switches to it between two batches."""

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from bus.control.policy_approvals import approval_headers, approvals_from_headers
from bus.control.policy_chain import Judged, PolicyRecord, approved_in_force, judge
from bus.control.policy_in_force import PolicyInForce
from bus.control.refused_records import validation_summary
from bus.control.service_principals import claimed_by_agencies
from bus.control.state_topics import ensure_state_topic
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import POLICY_TOPIC
from bus.kafka.writing import send_one
from bus.policy.approval_documents import ApprovalsFile
from bus.policy.approval_signatures import Approval
from bus.policy.documents import (
    AgenciesFile,
    GrantsFile,
    ProducersFile,
    PurposesFile,
    TerritoriesFile,
)
from bus.policy.errors import PolicyError
from bus.policy.loader import PolicySet
from bus.policy.snapshot import canonical_bytes, compile_snapshot

SOURCE = Path(f"kafka:{POLICY_TOPIC}")


def ensure_policy_topic(admin: KafkaAdmin, topic: str = POLICY_TOPIC) -> None:
    """Create the bus's compacted, one-partition policy topic if it is missing; another `topic`
    must exist and be one that may hold policy (bus/control/state_topics.py)."""
    ensure_state_topic(admin, topic, own=POLICY_TOPIC)


async def publish(
    connection: KafkaConnection,
    policy_set: PolicySet,
    topic: str = POLICY_TOPIC,
    approvals: Sequence[Approval] = (),
) -> None:
    """Put `policy_set` in force: its canonical bytes on the policy topic, keyed by its hash, with
    its approvals as headers. Unchecked: `bus policy apply` checks them first (policy_apply.py),
    and readers refuse a set its approvals do not carry (policy_chain.py)."""
    # Keyed by content hash, so compaction keeps every version ever applied (the audit trail
    # replays decisions under the snapshot they were made with); the newest record is still the
    # set in force. The approvals ride beside the hashed bytes: they are over the hash.
    document = canonical_bytes(policy_set)
    await send_one(
        connection, topic, document, key=snapshot_key(document), headers=approval_headers(approvals)
    )


async def latest(connection: KafkaConnection, topic: str = POLICY_TOPIC) -> PolicySet | None:
    """The set in force (see policy_in_force.py), or None if none is (then the enforcer pauses)."""
    return (await read_in_force(connection, topic)).policy


async def read_in_force(connection: KafkaConnection, topic: str = POLICY_TOPIC) -> PolicyInForce:
    """The newest policy set, not withdrawn by a later tombstone under its key, whose approvals
    chain back to the first set on the topic (policy_in_force.py and policy_chain.py say why, and
    what a refused record is)."""
    records = await read_records(connection, topic)
    return approved_in_force(topic, records, _parsed, approvals_from_headers)


async def read_history(
    connection: KafkaConnection, topic: str = POLICY_TOPIC
) -> tuple[list[Judged], PolicyInForce]:
    """Every set on the topic as compaction will leave it, oldest first, with the verdict on its
    approvals (`bus policy history`), and what is in force."""
    records = await read_records(connection, topic)
    judged, _ = judge(topic, records, _parsed, approvals_from_headers)
    return judged, approved_in_force(topic, records, _parsed, approvals_from_headers)


async def read_records(connection: KafkaConnection, topic: str) -> list[PolicyRecord]:
    """The whole policy topic, oldest first (one record per version ever applied): whether a set
    is approved depends on the set before it. Reading stops at the end offsets taken at start, so
    it ends even when the last offsets hold no record (compaction, transaction markers)."""
    consumer = AIOKafkaConsumer(
        **connection.aiokafka_kwargs(), enable_auto_commit=False, isolation_level="read_committed"
    )
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    try:
        await consumer.start()  # inside: a start that fails (broker away) must still close it
        begin = (await consumer.beginning_offsets([tp]))[tp]
        high = (await consumer.end_offsets([tp]))[tp]
        records = await _read_range(consumer, tp, begin, high) if high > begin else []
    finally:
        await consumer.stop()
    return [PolicyRecord(r.offset, r.key, r.value, tuple(r.headers)) for r in records]


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, low: int, high: int
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer.seek(tp, low)
    records: list[ConsumerRecord[bytes, bytes]] = []
    while await consumer.position(tp) < high:
        batch = await consumer.getmany(tp, timeout_ms=1000)
        records += [r for r in batch.get(tp, []) if r.offset < high]
    return records


@functools.lru_cache(maxsize=256)
def _parsed(key: bytes | None, value: bytes) -> PolicySet:
    # Every reload reads the whole topic: parse and compile each version once, not every time.
    return policy_from_record(key, value)


def policy_from_record(key: bytes | None, value: bytes) -> PolicySet:
    """The policy set a record of the policy topic carries. Raises ValueError saying why the record
    is not one: not JSON, not a policy set, not compilable, or keyed by another hash."""
    try:
        document = json.loads(value)
    except ValueError as exc:  # also invalid UTF-8
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"not a JSON object but {type(document).__name__}")
    try:
        policy_set = from_document(document)
        snapshot_hash = compile_snapshot(policy_set).hash
    except KeyError as exc:
        raise ValueError(f"not a policy set: {exc} is missing") from None
    except ValidationError as exc:
        raise ValueError(f"not a policy set: {validation_summary(exc)}") from None
    except PolicyError as exc:
        raise ValueError(f"not a consistent policy set: {exc}") from None
    misplaced = claimed_by_agencies(a.kafka_principal for a in policy_set.agencies.agencies)
    if misplaced:
        raise ValueError(f"it gives an agency the bus's own principal {', '.join(misplaced)}")
    # Canonical bytes hashing to the key: what decisions name is what the audit indexer keeps.
    if key != snapshot_hash.encode() or key != snapshot_key(value):
        raise ValueError(f"its key is not its content hash {snapshot_hash}: not written by publish")
    return policy_set


def snapshot_key(document: bytes) -> bytes:
    """The snapshot hash of a published policy document (as `content_hash` computes it)."""
    return ("sha256:" + hashlib.sha256(document).hexdigest()).encode()


def from_document(document: dict[str, Any]) -> PolicySet:
    """A published policy document (the five lists, and the approvals if it has them) as validated
    documents; raises pydantic's ValidationError, or KeyError for a missing list."""
    approvals = document.get("approvals")
    return PolicySet(
        directory=SOURCE,
        territories=TerritoriesFile.model_validate({"territories": document["territories"]}),
        agencies=AgenciesFile.model_validate({"agencies": document["agencies"]}),
        purposes=PurposesFile.model_validate({"purposes": document["purposes"]}),
        producers=ProducersFile.model_validate({"producers": document["producers"]}),
        grants=GrantsFile.model_validate({"grants": document["grants"]}),
        approvals=None if approvals is None else ApprovalsFile.model_validate(approvals),
    )
