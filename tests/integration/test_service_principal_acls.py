"""The ACL matrix of the bus's own services, on the real broker: each can do its job and nothing else.

The principals are the ones `bus kafka up` provisions (bus/control/service_principals.py), reached
through the profiles it writes, as the services themselves reach them. What each may *learn* is
what matters: no service but the enforcer reads the ingress topics, none reads a delivery topic,
only the indexer reads the audit trail, and none but the operator changes a topic, a user or an
ACL. Writes that would land are only tried on topics of this test's own (under the covered
prefixes): the shared audit and quarantine topics only see refused attempts.
"""

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial

import pytest
from aiokafka import AIOKafkaConsumer

from bus.control.policy_store import ensure_policy_topic
from bus.control.service_principals import ENFORCER_GROUP, SERVICE_ROLES
from bus.control.topology import ensure_bus_topics, ensure_checkpoints_topic, ensure_registry_topics
from bus.errors import BrokerError
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile
from bus.kafka.topics import (
    AUDIT_CHECKPOINTS_TOPIC,
    AUDIT_TOPIC,
    DELIVERY_PREFIX,
    INGRESS_PREFIX,
    POLICY_TOPIC,
    QUARANTINE_TOPIC,
    SEEN_EVENTS_PREFIX,
    SUBSCRIPTIONS_TOPIC,
)
from tests.support.kafka import AuthorizationFailed, produce_one, unique_name

Attempt = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Scene:
    services: dict[str, KafkaConnection]  # role -> its connection, from its profile
    ingress: str  # an ingress topic of this test's own
    delivery: str  # a delivery topic of this test's own
    journal: str  # a name under the enforcer's journal prefix, not yet created


@pytest.fixture
def scene(kafka_admin: KafkaAdmin) -> Iterator[Scene]:
    services = {role: load_profile(role) for role in SERVICE_ROLES}
    assert {c.username for c in services.values()} == set(SERVICE_ROLES.values())
    ingress = unique_name(f"{INGRESS_PREFIX}acl-matrix")
    delivery = unique_name(f"{DELIVERY_PREFIX}acl-matrix") + ".tax"
    journal = unique_name(f"{SEEN_EVENTS_PREFIX}{ENFORCER_GROUP}.acl-matrix")
    # The shared topics as the bus makes them (a test must not create one with another config).
    ensure_bus_topics(kafka_admin, [])
    ensure_registry_topics(kafka_admin)
    ensure_policy_topic(kafka_admin)
    ensure_checkpoints_topic(kafka_admin, AUDIT_CHECKPOINTS_TOPIC)
    kafka_admin.ensure_topics([ingress, delivery])
    yield Scene(services, ingress, delivery, journal)
    kafka_admin.delete_topics(
        [t for t in (ingress, delivery, journal) if t in kafka_admin.list_topics()]
    )


async def read_without_group(connection: KafkaConnection, topic: str) -> None:
    """Fetch `topic` from the start without a consumer group: only READ on the topic is asked."""
    consumer = AIOKafkaConsumer(
        topic,
        **connection.aiokafka_kwargs(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=2000), timeout=30)
    finally:
        await consumer.stop()


async def in_thread(call: Callable[[], object]) -> object:
    return await asyncio.to_thread(call)


async def refused(attempt: Attempt) -> bool:
    try:
        await attempt()
    except AuthorizationFailed:
        return True
    except BrokerError as exc:
        return "AUTHORIZATION_FAILED" in str(exc)
    return False


def throwaway_acl() -> Acl:
    return Acl(
        f"User:{unique_name('nobody')}", Resource.TOPIC, unique_name("bus.none"), Operation.READ
    )


async def test_each_service_does_its_job(scene: Scene, kafka_admin: KafkaAdmin) -> None:
    enforcer, operator = scene.services["enforcer"], scene.services["operator"]
    indexer, verifier = scene.services["audit-indexer"], scene.services["audit-verifier"]
    # The enforcer reads ingress, policy and subscriptions, writes a delivery topic, and creates
    # and configures its own journal.
    for topic in (scene.ingress, POLICY_TOPIC, SUBSCRIPTIONS_TOPIC):
        await read_without_group(enforcer, topic)
    await produce_one(enforcer, scene.delivery, b"minimised")
    KafkaAdmin(enforcer).ensure_topics([scene.journal], 1, {"cleanup.policy": "delete"})
    KafkaAdmin(enforcer).ensure_topic_config([scene.journal], {"retention.ms": "86400000"})
    assert scene.journal in kafka_admin.list_topics()
    # The operator creates and configures topics under bus., and manages users and ACLs.
    own = unique_name("bus.operator-made")
    operator_admin = KafkaAdmin(operator)
    operator_admin.ensure_topics([own], 1, {"retention.ms": "3600000"})
    operator_admin.ensure_topic_config([own], {"retention.ms": "7200000"})
    acl = throwaway_acl()
    operator_admin.create_acls({acl})
    assert acl in kafka_admin.describe_acls_of(acl.principal)
    operator_admin.delete_acls({acl})
    user = unique_name("operator-made")
    operator_admin.upsert_scram_user(user, secrets.token_urlsafe(18))
    assert kafka_admin.has_scram_user(user)
    operator_admin.revoke_scram_user(user)
    kafka_admin.delete_topics([own])
    # The indexer reads the audit trail and the policy, and writes its witness; the verifier
    # reads the witness.
    for topic in (AUDIT_TOPIC, POLICY_TOPIC, AUDIT_CHECKPOINTS_TOPIC):
        await read_without_group(indexer, topic)
    await read_without_group(verifier, AUDIT_CHECKPOINTS_TOPIC)


async def test_no_service_can_do_more(scene: Scene) -> None:
    enforcer, operator = scene.services["enforcer"], scene.services["operator"]
    indexer, verifier = scene.services["audit-indexer"], scene.services["audit-verifier"]
    personal = [scene.ingress, scene.delivery, AUDIT_TOPIC, QUARANTINE_TOPIC]
    attempts: list[tuple[str, Attempt]] = []

    def reads(role: str, connection: KafkaConnection, topics: list[str]) -> None:
        for topic in topics:
            attempts.append(
                (f"{role} reads {topic}", partial(read_without_group, connection, topic))
            )

    def writes(role: str, connection: KafkaConnection, topics: list[str]) -> None:
        for topic in topics:
            attempts.append(
                (f"{role} writes {topic}", partial(produce_one, connection, topic, b"x"))
            )

    def administers(role: str, connection: KafkaConnection) -> None:
        admin = KafkaAdmin(connection)
        topic = unique_name("bus.delivery.sneaky")
        attempts.extend(
            [
                (
                    f"{role} creates {topic}",
                    partial(in_thread, partial(admin.create_topics, [topic])),
                ),
                (
                    f"{role} creates an ACL",
                    partial(in_thread, partial(admin.create_acls, {throwaway_acl()})),
                ),
                (
                    f"{role} creates a SCRAM user",
                    partial(
                        in_thread,
                        partial(admin.upsert_scram_user, unique_name("x"), "pw-123456789012"),
                    ),
                ),
            ]
        )

    # The enforcer learns nothing from what it writes and writes nothing it reads.
    reads(
        "enforcer",
        enforcer,
        [scene.delivery, AUDIT_TOPIC, QUARANTINE_TOPIC, AUDIT_CHECKPOINTS_TOPIC],
    )
    writes(
        "enforcer",
        enforcer,
        [scene.ingress, POLICY_TOPIC, SUBSCRIPTIONS_TOPIC, AUDIT_CHECKPOINTS_TOPIC],
    )
    administers("enforcer", enforcer)
    enforcer_admin = KafkaAdmin(enforcer)
    attempts.append(
        (
            "enforcer changes a delivery topic's retention",
            partial(
                in_thread,
                partial(
                    enforcer_admin.ensure_topic_config, [scene.delivery], {"retention.ms": "1"}
                ),
            ),
        )
    )
    # The operator manages, but reads and writes no personal data.
    # (It writes the audit topic: subscribing and offboarding audit what they did.)
    reads("operator", operator, personal)
    writes("operator", operator, [scene.ingress, scene.delivery, QUARANTINE_TOPIC])
    operator_admin = KafkaAdmin(operator)
    outside = unique_name("outside-bus")
    attempts.append(
        (
            f"operator creates {outside}",
            partial(in_thread, partial(operator_admin.create_topics, [outside])),
        )
    )
    attempts.append(
        # (A topic of this test's own under bus.: the same ACL as the audit topic's, and a test
        # that fails must not delete the shared audit trail.)
        (
            "operator deletes a topic",
            partial(in_thread, partial(operator_admin.delete_topics, [scene.delivery])),
        )
    )
    # The indexer reads the trail, the verifier the witness: nothing else, and neither rewrites them.
    reads(
        "audit-indexer",
        indexer,
        [scene.ingress, scene.delivery, QUARANTINE_TOPIC, SUBSCRIPTIONS_TOPIC],
    )
    writes("audit-indexer", indexer, [AUDIT_TOPIC, scene.delivery, POLICY_TOPIC])
    administers("audit-indexer", indexer)
    reads("audit-verifier", verifier, [AUDIT_TOPIC, POLICY_TOPIC, *personal])
    writes("audit-verifier", verifier, [AUDIT_CHECKPOINTS_TOPIC, AUDIT_TOPIC])
    administers("audit-verifier", verifier)

    outcomes = [await refused(attempt) for _, attempt in attempts]
    let_through = [name for (name, _), no in zip(attempts, outcomes, strict=True) if not no]
    assert not let_through, f"the broker let these through: {let_through}"
    assert len(attempts) >= 40
