"""The enforcer on the real broker: permitted events reach each consumer exactly once with only
the released fields, every decision is audited once, invalid input is quarantined once."""

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from bus.catalog.population import Address
from bus.control.topology import ensure_bus_topics
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.service import Enforcer
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC, QUARANTINE_TOPIC, delivery_topic
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.policy.documents import ProducerAuthority
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from bus.record.pseudonyms import Pseudonymizer
from bus.util.encoding import b64url_decode
from tests.support.enforcer_process import with_ingress
from tests.support.events import address_changed
from tests.support.kafka import read_topic, unique_name
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)


async def test_events_flow_exactly_once_minimised_audited_and_quarantined(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bus.enforcer.service")
    tax, elect = unique_name("tax"), unique_name("elect")
    muni, rogue = AgencySigningKey.generate("muni-muc"), AgencySigningKey.generate("muni-rgb")
    snapshot = compile_snapshot(
        policy_set(
            agencies=(
                agency("muni-muc", "09162000", "population-register"),
                agency("muni-rgb", "09362000", "population-register"),
                agency(tax, "09", "taxation"),
                agency(elect, "09162000", "elections"),
            ),
            purposes=(purpose("tax", "taxation"), purpose("elections", "elections")),
            grants=(
                grant("g-tax", tax, "tax", fields=("subject_id", "new_address")),
                grant("g-elect", elect, "elections", fields=("new_address", "effective_date")),
            ),
            producers=(
                ProducerAuthority(agency="muni-muc", event_types=(TYPE,), territory="09162000"),
                ProducerAuthority(agency="muni-rgb", event_types=(TYPE,), territory="09362000"),
            ),
        )
    )
    subscriptions = (Subscription(tax, TYPE, "tax"), Subscription(elect, TYPE, "elections"))
    state = EnforcerState(
        snapshot=snapshot,
        keys=KeyStore([public_key_from_pem(k.agency_id, k.public_pem()) for k in (muni, rogue)]),
        subscriptions={TYPE: subscriptions},
        pseudonyms=Pseudonymizer(b"p" * 32),
    )
    ingress = topic_factory("ingress", partitions=3)
    state = with_ingress(state, ingress)  # this test's own topic carries the events
    ensure_bus_topics(kafka_admin, subscriptions, partitions=3)

    good = [
        issue_event(address_changed(f"P-{i:04d}-0001", new_address=MUNICH), muni) for i in range(40)
    ]
    blocked = [
        issue_event(address_changed("P-9999-0001", new_address=MUNICH, disclosure_block=True), muni)
    ]
    foreign = [issue_event(address_changed("P-8888-0001", new_address=MUNICH), rogue)]
    producer = AIOKafkaProducer(
        **kafka_broker.aiokafka_kwargs(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for issued in good + blocked + foreign:
            record = ingress_record(issued)
            await producer.send_and_wait(
                ingress, record.value, key=record.key, headers=record.headers
            )
        await producer.send_and_wait(ingress, b"not a token at all", key=b"x")
    finally:
        await producer.stop()

    registry = CollectorRegistry()
    enforcer = Enforcer(
        kafka_broker,
        [ingress],
        lambda: state,
        group=unique_name("enforcer"),
        metrics=EnforcerMetrics(registry),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(enforcer.run(stop))
    for _ in range(120):
        if enforcer.processed >= 43:
            break
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert enforcer.processed == 43

    ids = {i.attributes.id for i in good + blocked + foreign}
    tax_deliveries = await read_topic(kafka_broker, delivery_topic(tax, "tax"))
    assert sorted(header_map(r.headers)["ce_id"] for r in tax_deliveries) == sorted(
        i.attributes.id for i in good
    )  # exactly once each; the blocked person and the rogue producer's event never arrive
    elect_deliveries = await read_topic(kafka_broker, delivery_topic(elect, "elections"))
    assert len(elect_deliveries) == len(good)
    subjects = {f"P-{i:04d}-0001" for i in range(40)}
    for record in elect_deliveries:  # subject_id not released: neither key nor value carry it
        assert record.key.startswith(b"psn-")
        assert record.key.decode() not in subjects
        disclosed = [json.loads(b64url_decode(d)) for d in record.value.decode().split("~")[1:-1]]
        assert disclosed, "the delivery discloses the fields the grant releases"
        assert all(name != "subject_id" for _salt, name, _value in disclosed)
        assert not any(s in json.dumps(disclosed) for s in subjects)
    audits = [json.loads(r.value) for r in await read_topic(kafka_broker, AUDIT_TOPIC)]
    ours = [a for a in audits if a["event_id"] in ids or a["input"]["topic"] == ingress]
    per_event = Counter((a["event_id"], a["consumer"]) for a in ours)
    assert set(per_event.values()) == {1}  # every decision audited exactly once
    assert len(ours) == 2 * 41 + 2  # 2 decisions for each valid event, 1 per quarantined input
    quarantined = [
        r
        for r in await read_topic(kafka_broker, QUARANTINE_TOPIC)
        if header_map(r.headers).get("bus_input", "").startswith(ingress)
    ]
    reasons = sorted(header_map(r.headers)["bus_quarantine_reason"] for r in quarantined)
    assert reasons == ["MALFORMED", "PRODUCER_NOT_AUTHORITATIVE"]
    sample = registry.get_sample_value
    assert sample("bus_enforcer_quarantined_total", {"reason": "MALFORMED"}) == 1
    assert sample("bus_enforcer_quarantined_total", {"reason": "PRODUCER_NOT_AUTHORITATIVE"}) == 1
    permits = {"outcome": "PERMIT", "reason": "GRANTED", "consumer": tax}
    assert sample("bus_enforcer_decisions_total", permits) == len(good)
    blocked_labels = {"outcome": "DENY", "reason": "DISCLOSURE_BLOCKED", "consumer": tax}
    assert sample("bus_enforcer_decisions_total", blocked_labels) == 1
    assert sample("bus_enforcer_processing_seconds_count") == 43
    assert sample("bus_enforcer_policy_snapshot_info", {"hash": snapshot.hash}) == 1
    # Operators find a quarantined event by its id in the logs.
    logged = [(getattr(r, "event_id", None), getattr(r, "reason", None)) for r in caplog.records]
    assert (foreign[0].attributes.id, "PRODUCER_NOT_AUTHORITATIVE") in logged
    assert (None, "MALFORMED") in logged
