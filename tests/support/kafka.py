"""Test helpers for the real broker: unique names, principals with their own SCRAM credentials."""

import asyncio
import re
import secrets
import uuid
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from aiokafka.structs import ConsumerRecord

from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection


def unique_name(prefix: str) -> str:
    """A topic/group/user name no other test (or earlier run) uses."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", prefix)[:80].strip("-")
    return f"{clean}-{uuid.uuid4().hex[:10]}"


class Principals:
    """Creates SCRAM users for a test; afterwards removes their ACLs and revokes their credentials."""

    def __init__(self, admin: KafkaAdmin, admin_connection: KafkaConnection) -> None:
        self._admin = admin
        self._admin_connection = admin_connection
        self._created: list[str] = []

    def create(self, prefix: str = "agency") -> KafkaConnection:
        username = unique_name(prefix)
        password = secrets.token_urlsafe(18)
        self._admin.upsert_scram_user(username, password)
        self._created.append(username)
        return self._admin_connection.as_user(username, password)

    def cleanup(self) -> None:
        for username in self._created:
            self._admin.delete_acls_of(f"User:{username}")
            self._admin.revoke_scram_user(username)


async def read_topic(
    connection: KafkaConnection,
    topic: str,
    *,
    isolation_level: str = "read_committed",
    idle_s: float = 2.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """All records a fresh, group-less consumer sees from the start, until none arrive for idle_s."""
    consumer = AIOKafkaConsumer(
        topic,
        **connection.aiokafka_kwargs(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        while batch := await consumer.getmany(timeout_ms=int(idle_s * 1000)):
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


AuthorizationFailed = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)


async def produce_one(connection: KafkaConnection, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), request_timeout_ms=10000)
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, value), timeout=30)
    finally:
        await producer.stop()


async def consume_one(connection: KafkaConnection, topic: str, group: str) -> bytes | None:
    consumer = AIOKafkaConsumer(
        topic, **connection.aiokafka_kwargs(), group_id=group, auto_offset_reset="earliest"
    )
    try:
        await consumer.start()
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        return record.value  # type: ignore[no-any-return]
    finally:
        await consumer.stop()


async def can_read(connection: KafkaConnection, topic: str, group: str) -> None:
    """Join `group` on `topic` and fetch once, writing nothing: raises AuthorizationFailed if the
    broker refuses the topic or the group, returns quietly otherwise (also on an empty topic)."""
    consumer = AIOKafkaConsumer(
        topic,
        **connection.aiokafka_kwargs(),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=3000), timeout=30)
    finally:
        await consumer.stop()


async def eventually(action: Callable[[], object], attempts: int = 20) -> None:
    """ACLs reach the authorizer through the metadata log: allow a moment before they apply."""
    for attempt in range(attempts):
        try:
            await action()  # type: ignore[misc]
            return
        except AuthorizationFailed:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
