"""Registering a subscription: only what `authorize_subscription` permits; a refusal is audited."""

from datetime import datetime

from aiokafka import AIOKafkaProducer

from bus import subscriptions
from bus.enforcer.records import AuditEntry
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.topics import AUDIT_TOPIC, SUBSCRIPTIONS_TOPIC, delivery_topic
from bus.topology import INGRESS_PARTITIONS, ensure_registry_topics
from policies.decision import Decision
from policies.engine import authorize_subscription
from policies.facts import Subscription
from policies.snapshot import Snapshot


async def subscribe(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    snapshot: Snapshot,
    subscription: Subscription,
    now: datetime,
) -> Decision:
    ensure_registry_topics(admin)
    decision = authorize_subscription(
        snapshot,
        subscription.consumer,
        subscription.event_type,
        subscription.purpose,
        now.timestamp(),
    )
    if decision.permitted:
        admin.ensure_topics(
            [delivery_topic(subscription.consumer, subscription.purpose)],
            partitions=INGRESS_PARTITIONS,
        )
        await subscriptions.register(connection, subscription, decision.grant_id, now)
    else:
        await _audit_refusal(connection, decision, subscription, now)
    return decision


async def _audit_refusal(
    connection: KafkaConnection, decision: Decision, subscription: Subscription, now: datetime
) -> None:
    entry = AuditEntry(
        event_id=None, event_type=subscription.event_type, producer=None,
        consumer=subscription.consumer, purpose=subscription.purpose, legal_basis=None,
        outcome="SUBSCRIPTION_REFUSED", reasons=tuple(r.value for r in decision.reasons),
        released_fields=(), grant_id=decision.grant_id, snapshot_hash=decision.snapshot_hash,
        decided_at=now, subject_pseudonym=None,
        input_topic=SUBSCRIPTIONS_TOPIC, input_partition=-1, input_offset=-1,
    )  # fmt: skip
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            AUDIT_TOPIC, entry.to_json_bytes(), key=subscription.consumer.encode()
        )
    finally:
        await producer.stop()
