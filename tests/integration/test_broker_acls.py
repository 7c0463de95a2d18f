"""(c) Deny by default: a principal without ACLs can neither produce nor consume; prefixed ACLs let it."""

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from tests.support.kafka import Principals, unique_name

pytestmark = pytest.mark.integration

AuthorizationFailed = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)


async def _produce(connection: KafkaConnection, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), request_timeout_ms=10000)
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, value), timeout=30)
    finally:
        await producer.stop()


async def _consume_one(connection: KafkaConnection, topic: str, group: str) -> bytes | None:
    consumer = AIOKafkaConsumer(
        topic, **connection.aiokafka_kwargs(), group_id=group, auto_offset_reset="earliest"
    )
    try:
        await consumer.start()
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        return record.value  # type: ignore[no-any-return]
    finally:
        await consumer.stop()


async def _eventually(action: Callable[[], object], attempts: int = 20) -> None:
    """ACLs reach the authorizer through the metadata log: allow a moment before they apply."""
    for attempt in range(attempts):
        try:
            await action()  # type: ignore[misc]
            return
        except AuthorizationFailed:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)


async def test_principal_without_acls_is_refused_then_prefixed_acls_let_it_through(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    topic_factory: Callable[..., str],
) -> None:
    prefix = unique_name("agency-a")
    own_topic = topic_factory(name=f"{prefix}.delivery")
    foreign_topic = topic_factory("foreign")
    agency = principals.create("agency-a")
    await _produce(kafka_broker, own_topic, b"from-the-bus")

    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(agency, own_topic, b"not-allowed")
    with pytest.raises(AuthorizationFailed):
        await _consume_one(agency, own_topic, group=f"{prefix}-group")

    principal = f"User:{agency.username}"
    kafka_admin.create_acls([
        Acl(principal, Resource.TOPIC, prefix, Operation.WRITE, prefixed=True),
        Acl(principal, Resource.TOPIC, prefix, Operation.READ, prefixed=True),
        Acl(principal, Resource.GROUP, prefix, Operation.READ, prefixed=True),
    ])  # fmt: skip

    await _eventually(lambda: _produce(agency, own_topic, b"allowed"))
    assert await _consume_one(agency, own_topic, group=f"{prefix}-group") == b"from-the-bus"
    # The prefix is the boundary: a topic outside it stays closed.
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(agency, foreign_topic, b"still-not-allowed")
    with pytest.raises(AuthorizationFailed):
        await _consume_one(agency, foreign_topic, group=f"{prefix}-group")
