"""The raw transactional pass-through on librdkafka (confluent-kafka): what the enforcer's hot
loop could reach on that client, the baseline issue 15 measures against.

One consumer (read_committed, no auto-commit) and one transactional producer per process; each
fetched batch is one transaction: the sample event's output records (same topics' stand-ins,
sizes and headers as benchmarks/enforcer.py's aiokafka pass-through), then the input offsets
through the consumer group's metadata (KIP-447), then commit. No verification, policy or
disclosure: the client's and the broker's share of the cost alone.
"""

import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer

from bus.enforcer.records import RecordHeaders
from bus.kafka.connection import KafkaConnection

# Batching as the measurement found best: a transaction's records leave in few requests.
LINGER_MS = 100
BATCH_BYTES = 1 << 20
FETCH_RECORDS = 500

Shape = tuple[str, int, int, RecordHeaders]  # topic, key bytes, value bytes, headers


def librdkafka_passthrough(
    connection: KafkaConnection, ingress: str, shapes: list[Shape], total: int
) -> float:
    """Copy `total` records of `ingress` as `shapes`, one transaction per fetch; events/s from
    the end of the first transaction (as the aiokafka run counts, excluding the group join)."""
    base = connection.confluent_config()
    group = f"bench-rdk-{uuid.uuid4().hex[:10]}"
    consumer = Consumer(
        {
            **base,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    producer = Producer(
        {
            **base,
            "transactional.id": f"{group}.tx",
            "linger.ms": LINGER_MS,
            "batch.size": BATCH_BYTES,
            "enable.idempotence": True,
        }
    )
    # confluent-kafka's type for headers: the same pairs, values possibly str or None.
    outputs: list[tuple[str, int, int, list[tuple[str, str | bytes | None]]]] = [
        (topic, key_bytes, value_bytes, list(headers))
        for topic, key_bytes, value_bytes, headers in shapes
    ]
    try:
        producer.init_transactions(30)
        consumer.subscribe([ingress])
        done, started, first = 0, 0.0, 0
        while done < total:
            messages = consumer.consume(num_messages=FETCH_RECORDS, timeout=1.0)
            if not messages:
                continue
            producer.begin_transaction()
            for message in messages:
                if message.error():
                    raise KafkaException(message.error())
                key, value = message.key() or b"k", message.value() or b"v"
                for topic, key_bytes, value_bytes, headers in outputs:
                    producer.produce(
                        topic,
                        value=value[:1] * value_bytes,
                        key=key[:1] * key_bytes,
                        headers=headers,
                    )
            producer.send_offsets_to_transaction(
                consumer.position(consumer.assignment()), consumer.consumer_group_metadata()
            )
            producer.commit_transaction()
            done += len(messages)
            if not started:
                started, first = time.perf_counter(), done
        return (done - first) / (time.perf_counter() - started)
    finally:
        consumer.close()
        producer.flush(10)
