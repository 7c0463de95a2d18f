"""Write one record and wait until the broker has it: for the control plane's rare writes (a policy
set, a subscription, an audit record about the registry), not for a stream of events."""

from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaProducer

from bus.kafka.connection import KafkaConnection

# A topic that keeps the newest record of each key (policy sets, subscriptions, registry state).
COMPACTED: Mapping[str, str] = {"cleanup.policy": "compact"}


async def send_one(
    connection: KafkaConnection,
    topic: str,
    value: bytes | None,
    key: bytes,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Send `value` (None: a tombstone) under `key` (with `headers`) with acks from all in-sync
    replicas, idempotent, and return once it is written; the producer lives only for this record."""
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=list(headers) or None)
    finally:
        await producer.stop()
