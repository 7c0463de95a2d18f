"""Registering a subscription: only what `authorize_subscription` permits; a refusal is audited.
Removing one (unsubscribing, offboarding) writes a tombstone and is audited too."""

from datetime import datetime

from bus.control import subscriptions
from bus.control.topology import INGRESS_PARTITIONS, ensure_registry_topics
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC, SUBSCRIPTIONS_TOPIC, delivery_topic
from bus.kafka.writing import send_one
from bus.policy.decision import Decision
from bus.policy.engine import authorize_subscription
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot
from bus.record.audit_record import AuditRecord, InputPosition, RecordedOutcome, decision_time


async def subscribe(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    snapshot: Snapshot,
    subscription: Subscription,
    now: datetime,
    registry: str = SUBSCRIPTIONS_TOPIC,
) -> Decision:
    """Register `subscription` if the policy snapshot permits it (its delivery topic is made
    first); otherwise audit the refusal. Either way the decision is returned."""
    ensure_registry_topics(admin, registry)
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
        await subscriptions.register(connection, subscription, decision.grant_id, now, registry)
    else:
        reasons = tuple(r.value for r in decision.reasons)
        refusal = _entry(
            subscription,
            RecordedOutcome.SUBSCRIPTION_REFUSED,
            reasons,
            decision.snapshot_hash,
            now,
            decision.grant_id,
            registry,
        )
        await audit(connection, refusal)
    return decision


async def unsubscribe(
    connection: KafkaConnection,
    subscription: Subscription,
    reason: str,
    snapshot_hash: str,
    now: datetime,
    registry: str = SUBSCRIPTIONS_TOPIC,
) -> None:
    """Tombstone the subscription in `registry`, then audit its removal with `reason`
    (UNSUBSCRIBED, AGENCY_OFFBOARDED) under the policy snapshot in force."""
    await subscriptions.unregister(connection, subscription, registry)
    await audit(
        connection,
        _entry(
            subscription,
            RecordedOutcome.SUBSCRIPTION_REMOVED,
            (reason,),
            snapshot_hash,
            now,
            registry=registry,
        ),
    )


def _entry(
    subscription: Subscription,
    outcome: RecordedOutcome,
    reasons: tuple[str, ...],
    snapshot_hash: str,
    now: datetime,
    grant_id: str | None = None,
    registry: str = SUBSCRIPTIONS_TOPIC,
) -> AuditRecord:
    return AuditRecord(
        event_id=None,
        event_type=subscription.event_type,
        producer=None,
        consumer=subscription.consumer,
        purpose=subscription.purpose,
        legal_basis=None,
        outcome=outcome,
        reasons=reasons,
        released_fields=(),
        grant_id=grant_id,
        snapshot_hash=snapshot_hash,
        decided_at=decision_time(now),
        subject_pseudonym=None,
        input=InputPosition(registry, -1, -1),
        claimed_event_id=None,
        facts=None,
    )


async def audit(connection: KafkaConnection, entry: AuditRecord) -> None:
    """One audit record about the registry (not an event), keyed by the agency concerned."""
    await send_one(connection, AUDIT_TOPIC, entry.to_json_bytes(), (entry.consumer or "").encode())
