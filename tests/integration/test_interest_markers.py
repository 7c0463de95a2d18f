"""Interest markers on the real broker: a grant that requires interest releases an event about a
person only while the consumer holds a marker on them. Added → the next event is delivered;
removed or expired → denied with NO_INTEREST and audited; every marker change audited once;
markers rebuilt after a restart (not audited again); a record that is no marker quarantined."""

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from bus.catalog.population import Address
from bus.control.topology import ensure_bus_topics
from bus.enforcer.interest_markers import InterestMarkers
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.service import Enforcer
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.key_partition import key_partition
from bus.kafka.topics import AUDIT_TOPIC, QUARANTINE_TOPIC, delivery_topic
from bus.kafka.writing import COMPACTED
from bus.keys import AgencySigningKey, KeyStore
from bus.keys.keystore import public_key_from_pem
from bus.policy.documents import ProducerAuthority
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from bus.record.audit_record import AUDIT_AUDIENCE
from bus.record.pseudonyms import Pseudonymizer
from consumers.interest import InterestRegister
from tests.support.enforcer_process import with_ingress
from tests.support.events import address_changed
from tests.support.kafka import read_topic, unique_name
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"
PARTITIONS = 3
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)


class Scene:
    """One consumer whose grant requires interest, one producer, the test's own topics."""

    def __init__(self, broker: KafkaConnection, admin: KafkaAdmin, ingress: str) -> None:
        self.broker, self.ingress = broker, ingress
        self.tax = unique_name("tax")
        # Not under bus.interest.: the lab's own enforcer (a demo) must not read this test's markers.
        self.prefix = f"{unique_name('t')}.interest."
        self.muni = AgencySigningKey.generate("muni-muc")
        snapshot = compile_snapshot(
            policy_set(
                agencies=(
                    agency("muni-muc", "09162000", "population-register"),
                    agency(self.tax, "09", "taxation"),
                ),
                purposes=(purpose("tax", "taxation"),),
                grants=(grant("g-tax", self.tax, "tax", requires_interest=True),),
                producers=(
                    ProducerAuthority(agency="muni-muc", event_types=(TYPE,), territory="09162000"),
                ),
            )
        )
        subscription = Subscription(self.tax, TYPE, "tax")
        ensure_bus_topics(admin, [subscription], partitions=PARTITIONS)
        self.markers_topic = f"{self.prefix}{self.tax}.tax"
        admin.create_topics([self.markers_topic], PARTITIONS, COMPACTED)
        self.pseudonyms = Pseudonymizer(b"p" * 32)
        self.base = with_ingress(
            EnforcerState(
                snapshot=snapshot,
                keys=KeyStore([public_key_from_pem("muni-muc", self.muni.public_pem())]),
                subscriptions={TYPE: (subscription,)},
                pseudonyms=self.pseudonyms,
            ),
            ingress,
        )
        self.group = unique_name("enforcer")
        self.now = datetime.now(UTC)
        self.event_ids: dict[str, list[str]] = {}

    def enforcer(self, instance: str = "w0") -> tuple[Enforcer, InterestMarkers]:
        """A fresh enforcer process: a table of its own, rebuilt from the marker topic."""
        markers = InterestMarkers(self.prefix)
        state = replace(self.base, interest=markers)
        enforcer = Enforcer(
            self.broker,
            [self.ingress],
            lambda: state,
            group=self.group,
            instance=f"{self.group}-{instance}",
            clock=lambda: self.now,
            interest=markers,
        )
        return enforcer, markers

    def register(self) -> InterestRegister:
        return InterestRegister(self.tax, self.broker, self.prefix)

    async def publish(self, producer: AIOKafkaProducer, subject: str, label: str) -> None:
        issued = issue_event(address_changed(subject, new_address=MUNICH), self.muni)
        record = ingress_record(issued)
        await producer.send_and_wait(
            self.ingress, record.value, key=record.key, headers=record.headers
        )
        self.event_ids.setdefault(label, []).append(issued.attributes.id)


async def _until(enforcer: Enforcer, processed: int) -> None:
    for _ in range(240):
        if enforcer.processed >= processed:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"processed {enforcer.processed} of {processed} records")


async def test_markers_decide_release_audited_and_rebuilt_after_a_restart(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
) -> None:
    scene = Scene(kafka_broker, kafka_admin, topic_factory("ingress", partitions=PARTITIONS))
    try:
        await _run(scene, kafka_broker)
    finally:
        kafka_admin.delete_topics([scene.markers_topic])


async def _run(scene: Scene, kafka_broker: KafkaConnection) -> None:
    producer = AIOKafkaProducer(**kafka_broker.aiokafka_kwargs(), acks="all")
    await producer.start()
    enforcer, markers = scene.enforcer()
    stop = asyncio.Event()
    task = asyncio.create_task(enforcer.run(stop))
    try:
        async with scene.register() as register:
            await scene.publish(producer, "P-0001", "before-marker")
            await _until(enforcer, 1)
            await register.add("P-0001", "tax")  # then at once an event: fenced, so delivered
            await scene.publish(producer, "P-0001", "with-marker")
            await scene.publish(producer, "P-0002", "never-marked")
            await _until(enforcer, 4)
            await register.remove("P-0001", "tax")
            await scene.publish(producer, "P-0001", "after-removal")
            await _until(enforcer, 6)
            await register.add("P-0003", "tax", expires_at=scene.now + timedelta(hours=1))
            await scene.publish(producer, "P-0003", "before-expiry")
            await _until(enforcer, 8)
            scene.now += timedelta(hours=2)
            await scene.publish(producer, "P-0003", "after-expiry")
            await register.add("P-0004", "tax")
            await _until(enforcer, 10)
            assert markers.holds(scene.tax, "tax", "P-0004", 0)
            listed = await register.list("tax")  # what `bus interest list` shows
            assert listed["P-0004"] is None
            assert "P-0001" not in listed
            # A record on the marker topic that is no marker: quarantined, enforcement goes on.
            await producer.send_and_wait(scene.markers_topic, b'{"expires_at": 7, "x": 1}', b"P-9")
            wrong = (_partition("P-0005") + 1) % PARTITIONS
            await producer.send_and_wait(scene.markers_topic, b"{}", key=b"P-0005", partition=wrong)
            await _until(enforcer, 12)
        stop.set()
        await asyncio.wait_for(task, 30)

        # A new process: the markers come back from the topic, and are not audited again.
        restarted, rebuilt = scene.enforcer()
        stop = asyncio.Event()
        task = asyncio.create_task(restarted.run(stop))
        await scene.publish(producer, "P-0004", "after-restart")
        await scene.publish(producer, "P-0005", "wrong-partition-marker")
        await _until(restarted, 2)
        assert rebuilt.holds(scene.tax, "tax", "P-0004", 0)
        assert not rebuilt.holds(scene.tax, "tax", "P-0001", 0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await producer.stop()

    deliveries = await read_topic(kafka_broker, delivery_topic(scene.tax, "tax"))
    delivered = sorted(header_map(r.headers)["ce_id"] for r in deliveries)
    ids = scene.event_ids
    assert delivered == sorted(ids["with-marker"] + ids["before-expiry"] + ids["after-restart"])

    audits = [json.loads(r.value) for r in await read_topic(kafka_broker, AUDIT_TOPIC)]
    decisions = {a["event_id"]: a for a in audits if a["input"]["topic"] == scene.ingress}
    denied = ("before-marker", "never-marked", "after-removal", "after-expiry")
    for label in (*denied, "wrong-partition-marker"):
        (event_id,) = ids[label]
        assert decisions[event_id]["outcome"] == "DENY", label
        assert decisions[event_id]["reasons"] == ["NO_INTEREST"], label
    changes = [a for a in audits if a["input"]["topic"] == scene.markers_topic]
    summary = [(a["outcome"], a["subject_pseudonym"], a["consumer"]) for a in changes]
    pseudonym = _pseudonym_of(scene)
    assert sorted(s for s in summary if s[0] != "QUARANTINED") == sorted(
        [
            ("INTEREST_ADDED", pseudonym("P-0001"), scene.tax),
            ("INTEREST_REMOVED", pseudonym("P-0001"), scene.tax),
            ("INTEREST_ADDED", pseudonym("P-0003"), scene.tax),
            ("INTEREST_ADDED", pseudonym("P-0004"), scene.tax),  # once: the restart rebuilt it
        ]
    )
    for change in changes:
        assert change["purpose"] == ("tax" if change["outcome"] != "QUARANTINED" else None)
        assert "P-000" not in json.dumps(change)  # the person only as a pseudonym
    refused = [a for a in changes if a["outcome"] == "QUARANTINED"]
    assert [a["reasons"] for a in refused] == [["INVALID_INTEREST_MARKER"]] * 2
    quarantined = await read_topic(kafka_broker, QUARANTINE_TOPIC)
    ours = [q for q in quarantined if _input_topic(q) == scene.markers_topic]
    assert len(ours) == 2


async def test_each_worker_holds_the_markers_of_its_own_partitions_and_decides_with_them(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
) -> None:
    """Two workers of one group: the range assignment gives each the marker partitions of its
    ingress partitions, so it holds those people's markers and no one else's."""
    scene = Scene(kafka_broker, kafka_admin, topic_factory("ingress", partitions=PARTITIONS))
    marked = [f"P-{i:04d}" for i in range(12)]
    unmarked = [f"P-{i:04d}" for i in range(100, 112)]
    tasks: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    producer = AIOKafkaProducer(**kafka_broker.aiokafka_kwargs(), acks="all")
    await producer.start()
    try:
        async with scene.register() as register:
            for subject in marked:
                await register.add(subject, "tax")
        workers = [scene.enforcer("w0"), scene.enforcer("w1")]
        tasks = [asyncio.create_task(w.run(stop)) for w, _ in workers]
        await _until_assigned(workers)
        for subject in marked + unmarked:
            await scene.publish(producer, subject, "marked" if subject in marked else "unmarked")
        for _ in range(240):
            if sum(w.processed for w, _ in workers) >= len(marked) * 2 + len(unmarked):
                break
            await asyncio.sleep(0.25)
        for (_, table), (_, other) in zip(workers, reversed(workers), strict=True):
            held = set(table.partitions())
            assert held, "each worker holds the markers of some partitions"
            assert not held & set(other.partitions()), "no partition's markers twice"
    finally:
        stop.set()
        for task in tasks:
            await asyncio.wait_for(task, 30)
        await producer.stop()
        kafka_admin.delete_topics([scene.markers_topic])
    deliveries = await read_topic(kafka_broker, delivery_topic(scene.tax, "tax"))
    delivered = sorted(header_map(r.headers)["ce_id"] for r in deliveries)
    assert delivered == sorted(scene.event_ids["marked"])


async def _until_assigned(workers: list[tuple[Enforcer, InterestMarkers]]) -> None:
    """Until both workers hold markers: both have joined and set their partitions up."""
    for _ in range(240):
        if all(table.partitions() for _, table in workers):
            return
        await asyncio.sleep(0.25)
    raise AssertionError("the workers did not both set up marker partitions")


def _partition(subject: str) -> int:
    return key_partition(subject.encode(), PARTITIONS)


def _pseudonym_of(scene: Scene) -> Callable[[str], str]:
    return lambda subject: scene.pseudonyms.pseudonym(AUDIT_AUDIENCE, subject)


def _input_topic(record: Any) -> str:
    return header_map(record.headers)["bus_input"].rsplit("/", 2)[0]
