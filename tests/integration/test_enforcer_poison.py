"""Issue 12: 23 distinct poison records, sent with a register's own credentials among 5,000 good
events on ingress topics. The enforcer (its own process) never exits; every good event reaches each
permitted consumer exactly once; every poison is quarantined, untouched, with its reason, and
audited once.

The ingress topics are the test's own, one per event type and configured as the bus's (a record
must arrive on its type's topic: the enforcer's state maps each type to its topic here), so the
bus's ingress topics on the shared broker do not grow by 5,000 events a run that every later
enforcer group would read. The checks look only at the positions this test wrote and at audit
records made under this test's policy snapshot (the audit and quarantine topics are shared)."""

import asyncio
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ClusterAuthorizationFailedError

from bus.control.acls import desired_acls
from bus.control.topology import INGRESS_PARTITIONS, INGRESS_TOPIC_CONFIG, ensure_bus_topics
from bus.envelope.kafka_binding import header_map
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import (
    AUDIT_TOPIC,
    QUARANTINE_TOPIC,
    SEEN_EVENTS_PREFIX,
    delivery_topic,
    ingress_topic,
)
from bus.keys import AgencySigningKey
from bus.policy.facts import Subscription
from tests.support.enforcer_process import state_for
from tests.support.kafka import AuthorizationFailed, Principals, read_topic, unique_name
from tests.support.poison_records import OTHER_TYPE, TYPE, Poison, good_record, poisons

pytestmark = pytest.mark.slow
GOOD, SUBJECTS = 5_000, 500
Position = tuple[str, int, int]  # topic, partition, offset


async def test_poison_among_good_events_stops_nothing_and_loses_nothing(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    register = principals.create("muni")  # the register's own SCRAM user, not the bus admin
    key = AgencySigningKey.generate(register.username)
    stranger = AgencySigningKey.generate(register.username)  # same agency id, unknown key
    consumers = [unique_name("tax-a"), unique_name("tax-b")]
    group = unique_name("enforcer-poison")
    own = {t: topic_factory(t, partitions=INGRESS_PARTITIONS) for t in (TYPE, OTHER_TYPE)}
    kafka_admin.ensure_topic_config(own.values(), INGRESS_TOPIC_CONFIG)
    topics = list(own.values())
    config = {
        **kafka_broker.to_json_dict(),
        "ingress": topics,
        "ingress_of": own,
        "group": group,
        "consumers": consumers,
        "producer": register.username,
        "producer_public_pem": key.public_pem().decode(),
    }
    snapshot = state_for(config).snapshot
    subscriptions = [Subscription(c, TYPE, "tax") for c in consumers]
    ensure_bus_topics(kafka_admin, subscriptions)
    principal = f"User:{register.username}"
    # The register's ACLs as the policy gives them (on the test's own ingress topic), plus
    # PersonDied's ingress topic (registers report deaths too), so it can try the wrong topic.
    bus_names = {ingress_topic(t): topic for t, topic in own.items()}
    acls = {
        replace(a, name=bus_names.get(a.name, a.name))
        for a in desired_acls(snapshot, subscriptions, time.time())
        if a.principal == principal
    }
    acls.add(Acl(principal, Resource.TOPIC, own[OTHER_TYPE], Operation.WRITE))
    kafka_admin.create_acls(acls)
    await _start_group_at_end(kafka_broker, kafka_admin, group, topics)

    good: list[tuple[str, bytes, bytes, list[tuple[str, bytes | None]]]] = [
        good_record(key, f"P-{i % SUBJECTS:04d}-0000") for i in range(GOOD)
    ]
    _, dup_key, dup_value, dup_headers = good[100]
    republished = Poison(
        "republished event", "DUPLICATE_EVENT", topics[0], dup_key, dup_value, dup_headers
    )
    poison = poisons(key, stranger, republished, own.__getitem__)
    assert len({p.name for p in poison}) == len(poison) >= 20
    good_at, poison_at = await _publish(register, own[TYPE], good, poison)

    config_file = tmp_path / "enforcer.json"
    config_file.write_text(json.dumps(config))
    log = tmp_path / "enforcer.log"
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.enforcer_process",
            str(config_file),
            stdout=out,
            stderr=out,
        )
    try:
        targets = _ends(list(good_at.values()) + list(poison_at.values()))
        for _ in range(300):
            assert process.returncode is None, f"the enforcer exited:\n{_tail(log)}"
            if await _committed_past(kafka_broker, group, targets):
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail(f"not all input was processed; enforcer log:\n{_tail(log)}")
        assert process.returncode is None, f"the enforcer exited:\n{_tail(log)}"
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 60)
        kafka_admin.delete_acls(acls)
        journals = f"{SEEN_EVENTS_PREFIX}{group}."
        kafka_admin.delete_topics(t for t in kafka_admin.list_topics() if t.startswith(journals))
    processed_s = time.monotonic() - started

    # Every good event reached each consumer exactly once; no poison reached anyone.
    for consumer in consumers:
        delivered = await read_topic(kafka_broker, delivery_topic(consumer, "tax"))
        ids = Counter(header_map(r.headers)["ce_id"] for r in delivered)
        assert ids == Counter(list(good_at)), f"{consumer}: not each good event exactly once"

    # Every decision and quarantine made under this test's policy is audited exactly once.
    audits: dict[Position, list[dict[str, object]]] = defaultdict(list)
    for record in await read_topic(kafka_broker, AUDIT_TOPIC):
        entry = json.loads(record.value)
        if entry["snapshot_hash"] == snapshot.hash:
            source = entry["input"]
            audits[(source["topic"], source["partition"], source["offset"])].append(entry)
    for event_id, position in good_at.items():
        outcomes = sorted((a["consumer"], a["outcome"], a["event_id"]) for a in audits[position])
        assert outcomes == sorted((c, "PERMIT", event_id) for c in consumers), position
    for name, position in poison_at.items():
        reasons = [(a["outcome"], a["reasons"]) for a in audits[position]]
        assert reasons == [("QUARANTINED", [_reason(poison, name)])], (name, reasons)
    ours = set(good_at.values()) | set(poison_at.values())
    foreign = [a for position, found in audits.items() if position not in ours for a in found]
    assert all(a["outcome"] == "QUARANTINED" for a in foreign), "another party's record went out"

    # Each poison sits in quarantine with its reason, its bytes and headers untouched.
    copies: dict[Position, list[tuple[str, bytes, list[tuple[str, bytes | None]]]]] = {}
    by_name = {p.name: p for p in poison}
    wanted = {f"{t}/{p}/{o}": pos for pos in poison_at.values() for t, p, o in [pos]}
    for record in await read_topic(kafka_broker, QUARANTINE_TOPIC):
        headers = list(record.headers)
        added = dict(headers[-3:])  # the enforcer appends its three headers
        where = (added.get("bus_input") or b"").decode()
        if where in wanted:
            reason = (added.get("bus_quarantine_reason") or b"").decode()
            copies.setdefault(wanted[where], []).append((reason, record.value, headers[:-3]))
    for name, position in poison_at.items():
        sent = by_name[name]
        expected = (sent.reason, sent.value or b"", sent.headers)
        assert expected in copies.get(position, []), f"{name} not quarantined untouched"
    print(f"{GOOD} good and {len(poison)} poison records processed in {processed_s:.1f} s")


async def _start_group_at_end(
    connection: KafkaConnection, admin: KafkaAdmin, group: str, topics: list[str]
) -> None:
    """Commit the group's offsets at the topics' current ends: earlier records are not ours."""
    partitions = [TopicPartition(t, p) for t in topics for p in range(admin.partition_count(t))]
    consumer = AIOKafkaConsumer(
        **connection.aiokafka_kwargs(), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.commit(ends)
    finally:
        await consumer.stop()


async def _publish(
    register: KafkaConnection,
    ingress: str,
    good: list[tuple[str, bytes, bytes, list[tuple[str, bytes | None]]]],
    poison: list[Poison],
) -> tuple[dict[str, Position], dict[str, Position]]:
    """Good events with a poison record after every ~200th; returns where each landed."""
    producer = await _producer_once_authorized(register, ingress)
    every = len(good) // (len(poison) + 1)
    pending_good, pending_poison = {}, {}
    try:
        for i, (event_id, key, value, headers) in enumerate(good):
            pending_good[event_id] = await producer.send(ingress, value, key=key, headers=headers)
            if i % every == every - 1 and i // every < len(poison):
                p = poison[i // every]
                pending_poison[p.name] = await producer.send(
                    p.topic, p.value, key=p.key, headers=p.headers
                )
        good_at = {i: _where(await f) for i, f in pending_good.items()}
        poison_at = {n: _where(await f) for n, f in pending_poison.items()}
    finally:
        await producer.stop()
    return good_at, poison_at


async def _producer_once_authorized(register: KafkaConnection, ingress: str) -> AIOKafkaProducer:
    """The register's new ACLs reach the authorizer through the metadata log: retry a moment."""
    for attempt in range(40):
        producer = AIOKafkaProducer(
            **register.aiokafka_kwargs(),
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            max_request_size=2 * 2**20,  # a sender may ask for more than the topic takes
        )
        try:
            await producer.start()
            await producer.partitions_for(ingress)
            return producer
        except (*AuthorizationFailed, ClusterAuthorizationFailedError):
            await producer.stop()
            if attempt == 39:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


def _where(metadata: object) -> Position:
    return (metadata.topic, metadata.partition, metadata.offset)  # type: ignore[attr-defined]


def _ends(positions: list[Position]) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = {}
    for topic, partition, offset in positions:
        tp = TopicPartition(topic, partition)
        ends[tp] = max(ends.get(tp, 0), offset + 1)
    return ends


async def _committed_past(
    connection: KafkaConnection, group: str, targets: dict[TopicPartition, int]
) -> bool:
    probe = AIOKafkaConsumer(
        **connection.aiokafka_kwargs(), group_id=group, enable_auto_commit=False
    )
    await probe.start()
    try:
        for tp, end in targets.items():
            if (await probe.committed(tp) or 0) < end:
                return False
        return True
    finally:
        await probe.stop()


def _reason(poison: list[Poison], name: str) -> str:
    return next(p.reason for p in poison if p.name == name)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]
