"""Producer SDK on the real broker: publish, consume the raw record, verify it; bounded failure."""

import socket
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from bus.catalog.population import AddressChanged
from bus.envelope.kafka_binding import KafkaRecord, header_map, verify_record
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from consumers import Consumer, ReleasedEvent, SqliteInbox
from producers import (
    InvalidEventIdError,
    Producer,
    ProducerNotAuthorizedError,
    ProducerUnavailableError,
    PublishError,
)
from tests.support.deliveries import PURPOSE, TYPE, back_office_bus, moved_to_munich, run_until
from tests.support.enforcer_process import with_ingress
from tests.support.events import address_changed
from tests.support.kafka import Principals, consume_one, eventually, read_topic


@pytest.fixture
def ingress(topic_factory: Callable[..., str]) -> str:
    """The test's own ingress topic for AddressChanged (the bus's is left alone: other tests and
    the demo use it), created fresh for the test and deleted afterwards."""
    return topic_factory("ingress", partitions=3)


async def test_published_events_arrive_signed_keyed_and_verifiable(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin, principals: Principals, ingress: str
) -> None:
    agency = principals.create("muni-munich")
    kafka_admin.create_acls(
        [Acl(f"User:{agency.username}", Resource.TOPIC, ingress, Operation.WRITE)]
    )
    key = AgencySigningKey.generate("muni-munich")
    keys = KeyStore([public_key_from_pem(key.agency_id, key.public_pem())])
    events = [address_changed(f"P-{i:04d}-0000") for i in range(20)]

    async with Producer("muni-munich", key, agency, ingress_topic_of=lambda _: ingress) as producer:
        first = await producer.publish(events[0])
        rest = await producer.publish_many(events[1:])

    records = await read_topic(kafka_broker, ingress)
    assert len(records) == 20
    by_id = {header_map(r.headers)["ce_id"]: r for r in records}
    assert set(by_id) == {first, *rest}
    for event_id, event in zip([first, *rest], events, strict=True):
        record = by_id[event_id]
        assert record.key == event.subject_id.encode()
        headers = header_map(record.headers)
        assert headers["ce_type"] == "population.AddressChanged"
        assert headers["ce_source"] == "muni-munich"
        assert headers["content-type"] == "application/sd-jwt"
        verified = verify_record(record.value, record.headers, keys)
        assert verified.to_event() == event
        assert verified.attributes.id == event_id
    # UUIDv7 ids sort by time: the batch's ids come out in publish order.
    assert sorted(rest) == rest


async def test_unreachable_broker_fails_clearly_after_bounded_retries() -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = AgencySigningKey.generate("muni-munich")
    producer = Producer(
        "muni-munich",
        key,
        KafkaConnection(f"127.0.0.1:{port}", "muni-munich", "pw"),
        connect_attempts=3,
        retry_backoff_s=0.1,
    )
    started = time.monotonic()
    with pytest.raises(ProducerUnavailableError, match=r"after 3 attempts.*nothing was published"):
        await producer.start()
    assert time.monotonic() - started < 30


async def test_principal_without_any_grant_is_refused_at_once(
    kafka_broker: KafkaConnection, principals: Principals
) -> None:
    agency = principals.create("muni-noacl")
    key = AgencySigningKey.generate("muni-noacl")
    producer = Producer("muni-noacl", key, agency)
    with pytest.raises(ProducerNotAuthorizedError, match="may not publish"):
        await producer.start()


async def test_refused_write_is_reported_with_the_event_ids(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    ingress: str,
    topic_factory: Callable[..., str],
) -> None:
    # Allowed to write somewhere else, not to this ingress topic: the broker refuses these events,
    # and the SDK says which ones were not published.
    agency = principals.create("muni-other")
    elsewhere = topic_factory("elsewhere")
    kafka_admin.create_acls(
        [Acl(f"User:{agency.username}", Resource.TOPIC, elsewhere, Operation.WRITE)]
    )
    key = AgencySigningKey.generate("muni-other")
    events = [address_changed("P-0001-0001"), address_changed()]
    async with Producer("muni-other", key, agency, ingress_topic_of=lambda _: ingress) as producer:
        with pytest.raises(PublishError) as caught:
            await producer.publish_many(events)
        assert len(caught.value.failed) == 2
        assert caught.value.published == []
        # The retry keeps each event's id (in the order of the events), and is refused again.
        ids = caught.value.ids
        with pytest.raises(PublishError) as again:
            await producer.publish_many(events, event_ids=ids)
    assert again.value.ids == ids
    assert sorted(again.value.failed) == sorted(ids)


async def test_a_retry_keeps_the_event_id_and_the_copy_is_applied_once(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    ingress: str,
    tmp_path: Path,
) -> None:
    # A publication whose acknowledgement was lost is published again with its id: both copies
    # reach the bus, and the back office applies the event once.
    bus = back_office_bus(principals, kafka_admin, kafka_broker)
    agency = principals.create("muni-muc")
    kafka_admin.create_acls(
        [Acl(f"User:{agency.username}", Resource.TOPIC, ingress, Operation.WRITE)]
    )
    move, other = moved_to_munich(), moved_to_munich()
    key = bus.producer_key
    async with Producer("muni-muc", key, agency, ingress_topic_of=lambda _: ingress) as p:
        event_id = await p.publish(move)
        assert await p.publish(move, event_id=event_id) == event_id
        [other_id] = await p.publish_many([other])
        with pytest.raises(InvalidEventIdError, match="canonical form"):
            await p.publish(move, event_id=event_id.upper())

    records = await read_topic(kafka_broker, ingress)
    assert sorted(header_map(r.headers)["ce_id"] for r in records) == sorted(
        [event_id, event_id, other_id]
    )
    ingress_records = [KafkaRecord(r.topic, r.key, r.value, list(r.headers)) for r in records]
    bus.state = with_ingress(bus.state, ingress)  # the pipeline takes the test's topic as the bus's
    await bus.write(bus.delivered(ingress_records))
    await eventually(partial(consume_one, bus.connection, bus.topic, f"{bus.consumer}.probe"))
    applied: list[str] = []

    async def apply(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
        applied.append(event.id)

    consumer = Consumer(bus.consumer, bus.connection, bus.keys, SqliteInbox(tmp_path / "o.db"))
    consumer.subscribe(TYPE, PURPOSE, apply)
    await run_until(consumer, lambda: consumer.stats.handled == 3)
    assert sorted(applied) == sorted([event_id, other_id])
    assert (consumer.stats.applied, consumer.stats.duplicates) == (2, 1)
