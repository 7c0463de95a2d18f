"""(a) The broker is real: the bus admin creates a topic and round-trips records over SCRAM."""

from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from tests.support.kafka import read_topic


async def test_admin_creates_topic_and_round_trips_records(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("roundtrip", partitions=3)
    assert topic in kafka_admin.list_topics()

    sent = {f"subject-{i}".encode(): f"value-{i}".encode() for i in range(30)}
    producer = AIOKafkaProducer(
        **kafka_broker.aiokafka_kwargs(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for key, value in sent.items():
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    records = await read_topic(kafka_broker, topic)
    assert {r.key: r.value for r in records} == sent
    assert len(records) == len(sent)
    # Keys spread over the partitions, and each key stays on one partition.
    assert len({r.partition for r in records}) > 1
