"""The subscriptions registry: a compacted topic keyed by consumer × event type × purpose.

A record is a registration, a tombstone (null value) an unsubscription; compaction keeps the last
word per key, so reading the topic from the start to its end gives the subscriptions in force.
"""

import json
from datetime import datetime

from aiokafka import AIOKafkaProducer

from bus.envelope.attributes import format_time
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import TopicNotFoundError, read_all
from bus.topics import SUBSCRIPTIONS_TOPIC
from policies.facts import Subscription

COMPACTED = {"cleanup.policy": "compact"}


def subscription_key(subscription: Subscription) -> bytes:
    return f"{subscription.consumer}|{subscription.event_type}|{subscription.purpose}".encode()


async def register(
    connection: KafkaConnection, subscription: Subscription, grant_id: str | None, at: datetime
) -> None:
    value = json.dumps({
        "consumer": subscription.consumer, "event_type": subscription.event_type,
        "purpose": subscription.purpose, "grant_id": grant_id, "registered_at": format_time(at),
    }).encode()  # fmt: skip
    await _write(connection, subscription_key(subscription), value)


async def unregister(connection: KafkaConnection, subscription: Subscription) -> None:
    await _write(connection, subscription_key(subscription), None)


async def load(connection: KafkaConnection) -> list[Subscription]:
    """Every subscription in force: read the registry from its start to its current end."""
    current: dict[bytes, Subscription] = {}
    try:
        async for record in read_all(connection, SUBSCRIPTIONS_TOPIC):
            if record.value is None:
                current.pop(record.key, None)
            else:
                data = json.loads(record.value)
                current[record.key] = Subscription(
                    data["consumer"], data["event_type"], data["purpose"]
                )
    except TopicNotFoundError:
        return []  # no registry yet: nobody has subscribed
    return sorted(current.values(), key=subscription_key)


async def _write(connection: KafkaConnection, key: bytes, value: bytes | None) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(SUBSCRIPTIONS_TOPIC, value, key=key)
    finally:
        await producer.stop()
