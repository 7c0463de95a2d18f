"""Audit records written to a topic the way the enforcer writes them: committed, or in a
transaction that is then aborted."""

import asyncio
import json

from aiokafka import AIOKafkaProducer

from bus.kafka.connection import KafkaConnection
from tests.support.audit_records import audit_document


async def produce(connection: KafkaConnection, topic: str, first: int, count: int) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        batch = []
        for i in range(first, first + count):
            value = json.dumps(audit_document(i)).encode()
            batch.append(await producer.send(topic, value, key=str(i).encode()))
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


async def produce_aborted(connection: KafkaConnection, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(
        **connection.aiokafka_kwargs(), transactional_id=f"{topic}-aborter", acks="all"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        for i in range(count):
            await producer.send(topic, json.dumps(audit_document(900_000 + i)).encode())
        await producer.abort_transaction()
    finally:
        await producer.stop()
