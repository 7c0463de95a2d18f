"""Issue 12: every record the broker accepts on an ingress topic fits, untouched, into quarantine
with the enforcer's headers. Checked against the broker itself: the largest record an ingress
topic takes, copied with quarantine headers, is taken by the quarantine limits and the enforcer's
producer; a compressed batch that unpacks past the limit is refused; topics made before the
limits get them."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bus.control.topology import (
    INGRESS_MAX_MESSAGE_BYTES,
    INGRESS_TOPIC_CONFIG,
    QUARANTINE_TOPIC_CONFIG,
)
from bus.enforcer.pipeline import InRecord, quarantine
from bus.enforcer.txn_producer import TransactionalProducer
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.keys import AgencySigningKey
from tests.support.enforcer_process import state_for
from tests.support.kafka import read_topic, unique_name
from tests.support.poison_records import largest_value


async def test_the_largest_ingress_record_fits_into_quarantine_with_its_headers(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    ingress, stand_in = topic_factory("ingress"), topic_factory("quarantine")
    assert kafka_admin.ensure_topic_config([ingress], INGRESS_TOPIC_CONFIG) == [ingress]
    assert kafka_admin.ensure_topic_config([ingress], INGRESS_TOPIC_CONFIG) == []  # idempotent
    kafka_admin.ensure_topic_config([stand_in], QUARANTINE_TOPIC_CONFIG)
    assert kafka_admin.topic_config(ingress)["compression.type"] == "uncompressed"
    # A sender's headers as large as it likes, within the record the topic takes.
    headers: list[tuple[str, bytes | None]] = [("ce_id", b"x" * 4096), ("ce_type", None)]
    value = largest_value(b"k", headers)
    sender = AIOKafkaProducer(**kafka_broker.aiokafka_kwargs(), max_request_size=4 * 2**20)
    await sender.start()
    try:  # grow it until the broker refuses: the last one it took is the largest
        for _ in range(64):
            try:
                await sender.send_and_wait(ingress, value + b"A", key=b"k", headers=headers)
            except KafkaError:
                break
            value += b"A"
        else:
            pytest.fail("the ingress topic took records past its limit")
    finally:
        await sender.stop()
    accepted = (await read_topic(kafka_broker, ingress))[-1]
    assert accepted.value == value

    record = InRecord(
        ingress, 0, accepted.offset, accepted.key, accepted.value, list(accepted.headers)
    )
    key = AgencySigningKey.generate("muni-muc")
    state = state_for(
        {
            "consumers": ["tax-a"],
            "producer": "muni-muc",
            "producer_public_pem": key.public_pem().decode(),
        }
    )
    detail = "D" * 10_000  # quarantine bounds the detail it copies into a header
    copy = quarantine(record, state, datetime.now(UTC), "OVERSIZED", detail).records[0]
    # The enforcer's own producer, as the loop uses it.
    producer = TransactionalProducer(kafka_broker, unique_name("limits"))
    producer.begin()
    producer.produce(stand_in, copy.value, copy.key, list(copy.headers))
    producer.commit()
    producer.close()
    [kept] = await read_topic(kafka_broker, stand_in)
    assert kept.value == accepted.value  # untouched
    assert list(kept.headers)[: len(headers)] == headers


async def test_a_compressed_batch_that_unpacks_past_the_limit_is_refused(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    ingress = topic_factory("ingress")
    kafka_admin.ensure_topic_config([ingress], INGRESS_TOPIC_CONFIG)
    bomb = b"A" * (4 * INGRESS_MAX_MESSAGE_BYTES)  # gzip makes it a few KiB on the wire
    sender = AIOKafkaProducer(
        **kafka_broker.aiokafka_kwargs(), compression_type="gzip", max_request_size=8 * 2**20
    )
    await sender.start()
    try:
        with pytest.raises(KafkaError):
            await sender.send_and_wait(ingress, bomb, key=b"k")
        await sender.send_and_wait(ingress, b"small", key=b"k")  # compression itself is fine
    finally:
        await sender.stop()
    assert [r.value for r in await read_topic(kafka_broker, ingress)] == [b"small"]
