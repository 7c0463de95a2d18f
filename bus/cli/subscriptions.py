"""`bus subscribe`, `bus unsubscribe`, `bus subscriptions`: who receives what, for which purpose."""

import asyncio
from datetime import UTC, datetime

import typer

from bus.cli.params import (
    ConsumerOption,
    EventTypeOption,
    PolicyDirOption,
    ProfileOption,
    PurposeOption,
    SubscriptionsTopicOption,
)
from bus.control import policy_store, subscriptions
from bus.control.subscription_service import subscribe as subscribe_service
from bus.control.subscription_service import unsubscribe as unsubscribe_service
from bus.control.topology import ensure_registry_topics
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile
from bus.kafka.topics import SUBSCRIPTIONS_TOPIC
from bus.policy.facts import Subscription
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot, empty_snapshot


def subscribe(
    consumer: ConsumerOption,
    event_type: EventTypeOption,
    purpose: PurposeOption,
    policy: PolicyDirOption,
    subscriptions_topic: SubscriptionsTopicOption = SUBSCRIPTIONS_TOPIC,
    profile: ProfileOption = None,
) -> None:
    """Register a subscription if a grant permits it; otherwise refuse with the reason (audited).
    As the bus's operator."""
    snapshot = compile_snapshot(load_policy_set(policy))
    connection = load_profile("operator", profile)
    wanted = Subscription(consumer, event_type, purpose)
    decision = asyncio.run(
        subscribe_service(
            connection,
            KafkaAdmin(connection),
            snapshot,
            wanted,
            datetime.now(UTC),
            subscriptions_topic,
        )
    )
    if not decision.permitted:
        typer.echo(
            f"refused ({', '.join(r.value for r in decision.reasons)}): {decision.explanation}",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"subscribed: {consumer} × {event_type} × {purpose} under grant {decision.grant_id}")


def unsubscribe(
    consumer: ConsumerOption,
    event_type: EventTypeOption,
    purpose: PurposeOption,
    subscriptions_topic: SubscriptionsTopicOption = SUBSCRIPTIONS_TOPIC,
    profile: ProfileOption = None,
) -> None:
    """Remove a subscription (audited); the next ACL sync takes the consumer's access away. As the
    bus's operator."""
    connection = load_profile("operator", profile)
    admin = KafkaAdmin(connection)
    ensure_registry_topics(admin, subscriptions_topic)
    policy_store.ensure_policy_topic(admin)
    unwanted = Subscription(consumer, event_type, purpose)
    if not asyncio.run(_unsubscribe(connection, unwanted, subscriptions_topic)):
        typer.echo(f"not subscribed: {consumer} × {event_type} × {purpose} (nothing changed)")
        return
    typer.echo(f"unsubscribed: {consumer} × {event_type} × {purpose}")


async def _unsubscribe(connection: KafkaConnection, unwanted: Subscription, registry: str) -> bool:
    if unwanted not in await subscriptions.load(connection, registry):
        return False
    applied = await policy_store.latest(connection)
    snapshot = empty_snapshot() if applied is None else compile_snapshot(applied)
    await unsubscribe_service(
        connection, unwanted, "UNSUBSCRIBED", snapshot.hash, datetime.now(UTC), registry
    )
    return True


def list_subscriptions(
    subscriptions_topic: SubscriptionsTopicOption = SUBSCRIPTIONS_TOPIC,
    profile: ProfileOption = None,
) -> None:
    """The subscriptions in force (read as the bus's operator)."""
    connection = load_profile("operator", profile)
    ensure_registry_topics(KafkaAdmin(connection), subscriptions_topic)
    for s in asyncio.run(subscriptions.load(connection, subscriptions_topic)):
        typer.echo(f"{s.consumer:24} {s.event_type:34} {s.purpose}")
