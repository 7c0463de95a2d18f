"""One producer and a few consumer agencies with unique ids, their policy set (on the bus or in a
directory), and an in-process `bus enforce` following it: for the enforcer's fail-safe tests."""

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.errors import UnknownTopicOrPartitionError

from bus.catalog.population import Address
from bus.control import subscriptions
from bus.control.broker_setup import KafkaBrokerSetup
from bus.control.state_reading import StateTopics
from bus.enforcer.runtime import EnforcerConfig, run_enforcer
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC, INGRESS_PREFIX, delivery_topic, ingress_topic
from bus.keys import AgencySigningKey
from bus.policy.documents import FILES, ProducerAuthority
from bus.policy.facts import Subscription
from bus.policy.loader import PolicySet
from tests.support.events import address_changed
from tests.support.kafka import read_topic, unique_name
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"
PURPOSE = "tax"
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)


@dataclass
class Scene:
    producer: AgencySigningKey
    consumers: list[str]
    keys: Path  # the producer's public key, as `bus enforce --keys` reads it
    # The policy topic and registry the scene writes and its enforcer reads: on the shared broker
    # the test's own, so that the bus's policy in force and its subscriptions stay untouched.
    topics: StateTopics = field(default_factory=StateTopics)
    ingress_prefix: str = INGRESS_PREFIX  # the scene's events go to <prefix><event type>

    @classmethod
    def create(
        cls,
        tmp_path: Path,
        consumers: int,
        topics: StateTopics | None = None,
        ingress_prefix: str = INGRESS_PREFIX,
    ) -> "Scene":
        producer = AgencySigningKey.generate(unique_name("muni"))
        keys = tmp_path / "keys"
        keys.mkdir()
        (keys / f"{producer.agency_id}.pub.pem").write_bytes(producer.public_pem())
        consumer_ids = [unique_name("tax") for _ in range(consumers)]
        return cls(producer, consumer_ids, keys, topics or StateTopics(), ingress_prefix)

    def policy(self, valid_until: datetime | None = None) -> PolicySet:
        """The producer reports moves in Munich; each consumer may receive them for "tax"."""
        return policy_set(
            agencies=(
                agency(self.producer.agency_id, "09162000", "population-register"),
                *(agency(c, "09", "taxation") for c in self.consumers),
            ),
            purposes=(purpose(PURPOSE, "taxation"),),
            grants=tuple(
                grant(
                    f"g-{c}",
                    c,
                    PURPOSE,
                    fields=("subject_id", "new_address"),
                    valid_until=valid_until,
                )
                for c in self.consumers
            ),
            producers=(
                ProducerAuthority(
                    agency=self.producer.agency_id, event_types=(TYPE,), territory="09162000"
                ),
            ),
        )

    def subscription(self, consumer: str) -> Subscription:
        return Subscription(consumer, TYPE, PURPOSE)

    async def subscribe(self, connection: KafkaConnection, consumer: str) -> None:
        await subscriptions.register(
            connection,
            self.subscription(consumer),
            f"g-{consumer}",
            datetime.now(UTC),
            self.topics.subscriptions,
        )

    async def cleanup(self, connection: KafkaConnection, admin: KafkaAdmin) -> None:
        for consumer in self.consumers:
            await subscriptions.unregister(
                connection, self.subscription(consumer), self.topics.subscriptions
            )
            admin.delete_acls_of(f"User:{consumer}")
        admin.delete_acls_of(f"User:{self.producer.agency_id}")

    async def publish_event(self, connection: KafkaConnection, subject: str) -> str:
        """A signed move into Munich on the scene's ingress topic; returns its event id."""
        issued = issue_event(address_changed(subject, new_address=MUNICH), self.producer)
        record = ingress_record(issued)
        topic = ingress_topic(TYPE, self.ingress_prefix)
        await send(connection, topic, record.key, record.value, record.headers)
        return issued.attributes.id


async def send(
    connection: KafkaConnection,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """One record, acknowledged by the broker (a None value is a tombstone)."""
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=list(headers))
    finally:
        await producer.stop()


def write_policy_dir(policy: PolicySet, directory: Path) -> None:
    """The set as the YAML files `bus enforce --policy DIR` reads."""
    directory.mkdir(exist_ok=True)
    for name in FILES:
        section = name.removesuffix(".yaml")
        document: Any = getattr(policy, section).model_dump(mode="json")
        (directory / name).write_text(yaml.safe_dump(document, sort_keys=False))


async def deliveries_of(connection: KafkaConnection, consumer: str) -> list[str]:
    """The event ids delivered to `consumer` for PURPOSE, in order (committed records only)."""
    try:
        records = await read_topic(connection, delivery_topic(consumer, PURPOSE), idle_s=0.5)
    except UnknownTopicOrPartitionError:
        return []  # not created yet: the enforcer creates it when the subscription takes effect
    return [header_map(r.headers)["ce_id"] for r in records]


async def wait_delivered(
    connection: KafkaConnection, consumer: str, event_id: str, timeout_s: float = 60
) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if event_id in await deliveries_of(connection, consumer):
            return True
        await asyncio.sleep(0.5)
    return False


async def audits_of(
    connection: KafkaConnection, event_id: str, scene: "Scene"
) -> list[dict[str, Any]]:
    """The audit records of the event about the scene's own consumers (or quarantining it): on a
    shared broker, other tests' subscriptions to the same type are decided too."""
    records = await read_topic(connection, AUDIT_TOPIC, idle_s=0.5)
    found = [document for r in records if (document := _json_object(r.value)) is not None]
    ours = {None, *scene.consumers}
    return [a for a in found if a["event_id"] == event_id and a["consumer"] in ours]


def _json_object(value: bytes | None) -> dict[str, Any] | None:
    """An audit record's document; None for what another test wrote there to probe its rights
    (the shared broker's audit topic is everyone's)."""
    try:
        document = json.loads(value or b"")
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


@asynccontextmanager
async def running_enforcer(
    connection: KafkaConnection, config: EnforcerConfig, **options: Any
) -> AsyncIterator[asyncio.Task[None]]:
    """`run_enforcer` as a task; on leaving, asks it to stop and waits for a clean end. With the
    admin's `connection` and, unless `options` say otherwise, the operator's full broker setup:
    this enforcer creates its topics and syncs ACLs itself, as the one process under test."""
    options.setdefault("broker_setup", KafkaBrokerSetup(KafkaAdmin(connection), config.retention))
    stop = asyncio.Event()
    task = asyncio.create_task(run_enforcer(connection, config, stop, **options))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)
