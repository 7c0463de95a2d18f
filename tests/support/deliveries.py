"""A consumer agency with real credentials and ACLs, and deliveries made by the real enforcer
pipeline (`process`), written to its delivery topic by the bus admin: what a back office sees."""

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from bus.catalog import Event
from bus.catalog.population import AddressChanged
from bus.control.acls import desired_acls
from bus.control.topology import ensure_bus_topics
from bus.enforcer.pipeline import EnforcerState, InRecord, process
from bus.enforcer.records import OutRecord
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import KafkaRecord, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC, delivery_topic
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.policy.documents import ProducerAuthority
from bus.policy.facts import Subscription
from bus.policy.snapshot import canonical_bytes, compile_snapshot
from bus.record.pseudonyms import Pseudonymizer
from consumers import Consumer
from tests.support.enforcer_runs import MUNICH
from tests.support.events import address_changed
from tests.support.kafka import Principals, unique_name
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"
PURPOSE = "tax"
RELEASED = ("subject_id", "new_address", "moved_abroad")


@dataclass
class BackOfficeBus:
    consumer: str  # the agency id, which is also its SCRAM user name
    connection: KafkaConnection  # the consumer's own credentials
    admin_connection: KafkaConnection
    producer_key: AgencySigningKey
    state: EnforcerState
    topics: dict[str, str]  # purpose -> delivery topic
    policy_document: bytes  # the policy set's canonical bytes, as the policy topic carries it
    sent: list[OutRecord] = field(default_factory=list)
    audited: list[bytes] = field(default_factory=list)  # the audit records of `delivered`

    @property
    def topic(self) -> str:
        """The delivery topic of the first purpose."""
        return next(iter(self.topics.values()))

    @property
    def keys(self) -> KeyStore:
        return self.state.keys

    def deliveries(self, events: Sequence[Event], now: datetime | None = None) -> list[OutRecord]:
        """What the enforcer would write to this consumer's delivery topics for `events`,
        deciding at `now` (default: the time now)."""
        ingress = [ingress_record(issue_event(e, self.producer_key)) for e in events]
        return self.delivered(ingress, now)

    def delivered(
        self, ingress: Sequence[KafkaRecord], now: datetime | None = None
    ) -> list[OutRecord]:
        """What the enforcer's pipeline writes to this consumer's delivery topics for `ingress`;
        its audit records are kept in `audited`."""
        now = now or datetime.now(UTC)
        out: list[OutRecord] = []
        for offset, record in enumerate(ingress):
            outcome = process(
                InRecord(record.topic, 0, offset, record.key, record.value, list(record.headers)),
                self.state,
                now,
            )
            out += [r for r in outcome.records if r.topic in self.topics.values()]
            self.audited += [r.value for r in outcome.records if r.topic == AUDIT_TOPIC]
        assert len(out) == len(ingress) * len(self.topics), "every test event must be permitted"
        return out

    async def write(self, records: list[OutRecord]) -> None:
        producer = AIOKafkaProducer(
            **self.admin_connection.aiokafka_kwargs(), acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            pending = [
                await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
            ]
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
        self.sent += records


def back_office_bus(
    principals: Principals,
    admin: KafkaAdmin,
    admin_connection: KafkaConnection,
    purposes: Sequence[str] = (PURPOSE,),
) -> BackOfficeBus:
    """A consumer agency subscribed to AddressChanged for each of `purposes` (granted alike)."""
    connection = principals.create("back-office")
    consumer = connection.username
    key = AgencySigningKey.generate("muni-muc")
    policy = policy_set(
        agencies=(
            agency("muni-muc", "09162000", "population-register"),
            agency(consumer, "09", "taxation"),
        ),
        purposes=tuple(purpose(p, "taxation") for p in purposes),
        grants=tuple(grant(f"g-{p}", consumer, p, fields=RELEASED) for p in purposes),
        producers=(
            ProducerAuthority(agency="muni-muc", event_types=(TYPE,), territory="09162000"),
        ),
    )
    snapshot = compile_snapshot(policy)
    subscriptions = tuple(Subscription(consumer, TYPE, p) for p in purposes)
    ensure_bus_topics(admin, subscriptions, partitions=2)
    # Grant only (no sync): a sync would revoke the ACLs of tests running beside this one.
    admin.create_acls(desired_acls(snapshot, subscriptions, time.time()))
    state = EnforcerState(
        snapshot=snapshot,
        keys=KeyStore([public_key_from_pem("muni-muc", key.public_pem())]),
        subscriptions={TYPE: subscriptions},
        pseudonyms=Pseudonymizer(b"d" * 32),
    )
    topics = {p: delivery_topic(consumer, p) for p in purposes}
    return BackOfficeBus(
        consumer, connection, admin_connection, key, state, topics, canonical_bytes(policy)
    )


async def run_until(
    consumer: Consumer[Any], done: Callable[[], bool], timeout_s: float = 60
) -> None:
    """Run `consumer` until `done()` (or fail after `timeout_s`), then stop it cleanly."""
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        for _ in range(int(timeout_s * 10)):
            if done() or task.done():
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert done(), f"timed out: {consumer.stats}"


def moved_to_munich(person: str | None = None) -> AddressChanged:
    """A move the Munich register is the authentic source of, for a fresh person by default."""
    return address_changed(person or unique_name("P"), new_address=MUNICH)
