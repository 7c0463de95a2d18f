"""The raw transactional pass-through on aiokafka: the baseline issue 15 sets the enforcer's
target against (≥ 50 % of it), and what the enforcer's loop ran on before.

One consumer (read_committed, no auto-commit) and one transactional producer; each fetch is one
transaction: the sample event's output records (stand-in topics, same sizes and headers as
benchmarks/librdkafka_passthrough.py), then the input offsets, then commit. No verification,
policy or disclosure: the client's and the broker's share of the cost alone.
"""

import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.librdkafka_passthrough import FETCH_RECORDS, Shape
from bus.kafka.connection import KafkaConnection


async def aiokafka_passthrough(
    connection: KafkaConnection, ingress: str, shapes: list[Shape], total: int
) -> float:
    """Copy `total` records of `ingress` as `shapes`, one transaction per fetch; events/s from
    the end of the first transaction (excluding the group join), as the librdkafka run counts."""
    group = f"bench-aio-{uuid.uuid4().hex[:10]}"
    consumer = AIOKafkaConsumer(
        ingress,
        **connection.aiokafka_kwargs(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(
        **connection.aiokafka_kwargs(),
        transactional_id=f"{group}.tx",
        acks="all",
        enable_idempotence=True,
    )
    await consumer.start()
    await producer.start()
    try:
        done, started, first = 0, 0.0, 0
        while done < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
            if not batches:
                continue
            offsets = {}
            async with producer.transaction():
                for tp, messages in batches.items():
                    for message in messages:
                        key, value = message.key or b"k", message.value or b"v"
                        for topic, key_bytes, value_bytes, headers in shapes:
                            await producer.send(
                                topic,
                                value[:1] * value_bytes,
                                key=key[:1] * key_bytes,
                                headers=list(headers),
                            )
                    offsets[tp] = messages[-1].offset + 1
                    done += len(messages)
                await producer.send_offsets_to_transaction(offsets, group)
            if not started:
                started, first = time.perf_counter(), done
        return (done - first) / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()
