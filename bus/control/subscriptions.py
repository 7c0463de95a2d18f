"""The subscriptions registry: a compacted topic keyed by consumer × event type × purpose.

A record is a registration, a tombstone (null value) an unsubscription; compaction keeps the last
word per key, so reading the topic from the start to its end gives the subscriptions in force.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus.control.refused_records import RefusedRecord, validation_summary
from bus.envelope.attributes import format_time
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import TopicNotFoundError, read_all
from bus.kafka.topics import SUBSCRIPTIONS_TOPIC
from bus.kafka.writing import send_one
from bus.policy.facts import Subscription


def subscription_key(subscription: Subscription) -> bytes:
    """The registry key of `subscription`: `consumer|event type|purpose`."""
    return f"{subscription.consumer}|{subscription.event_type}|{subscription.purpose}".encode()


async def register(
    connection: KafkaConnection,
    subscription: Subscription,
    grant_id: str | None,
    at: datetime,
    topic: str = SUBSCRIPTIONS_TOPIC,
) -> None:
    """Record `subscription` in the registry (`topic`), with the grant that permitted it and when."""
    value = json.dumps(
        {
            "consumer": subscription.consumer,
            "event_type": subscription.event_type,
            "purpose": subscription.purpose,
            "grant_id": grant_id,
            "registered_at": format_time(at),
        }
    ).encode()
    await send_one(connection, topic, value, subscription_key(subscription))


async def unregister(
    connection: KafkaConnection, subscription: Subscription, topic: str = SUBSCRIPTIONS_TOPIC
) -> None:
    """Remove `subscription` from the registry (`topic`): a tombstone under its key."""
    await send_one(connection, topic, None, subscription_key(subscription))


@dataclass(frozen=True)
class SubscriptionsInForce:
    """The registry as `read_in_force` reads it: the subscriptions, and the records refused."""

    subscriptions: list[Subscription]
    refused: tuple[RefusedRecord, ...]


class _Registration(BaseModel):
    """A registration record as `register` writes it; anything else is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    consumer: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    purpose: str = Field(min_length=1)
    grant_id: str | None
    registered_at: str


async def load(connection: KafkaConnection, topic: str = SUBSCRIPTIONS_TOPIC) -> list[Subscription]:
    """Every subscription in force: read the registry from its start to its current end. A
    registry that does not exist yet holds none."""
    try:
        return (await read_in_force(connection, topic)).subscriptions
    except TopicNotFoundError:
        return []  # no registry yet: nobody has subscribed


async def read_in_force(
    connection: KafkaConnection, topic: str = SUBSCRIPTIONS_TOPIC
) -> SubscriptionsInForce:
    """The subscriptions in force and the records refused on the way. A record that is not a
    registration, or names another subscription than its key, is skipped: its key keeps its last
    valid registration (a tombstone still unsubscribes). Raises TopicNotFoundError: a registry
    that vanished is an error to the enforcer, never "nobody is subscribed"."""
    current: dict[bytes, Subscription] = {}
    refused: list[RefusedRecord] = []
    async for record in read_all(connection, topic):
        if record.value is None:
            current.pop(record.key, None)
            continue
        try:
            current[record.key] = subscription_from_record(record.key, record.value)
        except ValueError as exc:
            refused.append(RefusedRecord(topic, record.offset, record.key, str(exc)))
    return SubscriptionsInForce(sorted(current.values(), key=subscription_key), tuple(refused))


def subscription_from_record(key: bytes | None, value: bytes) -> Subscription:
    """The subscription a registration record carries; ValueError says why it is not one."""
    try:
        registration = _Registration.model_validate_json(value)
    except ValidationError as exc:
        raise ValueError(f"not a registration: {validation_summary(exc)}") from None
    subscription = Subscription(
        registration.consumer, registration.event_type, registration.purpose
    )
    if key != subscription_key(subscription):
        raise ValueError(f"its key does not name the subscription it registers ({subscription})")
    return subscription
