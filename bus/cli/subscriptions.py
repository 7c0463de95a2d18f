"""`bus subscribe`, `bus unsubscribe`, `bus subscriptions`: who receives what, for which purpose."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bus import subscriptions
from bus.kafka import broker
from bus.kafka.admin import KafkaAdmin
from bus.kafka.settings import load_kafka_settings
from bus.subscription_service import subscribe as subscribe_service
from bus.topology import ensure_registry_topics
from policies.facts import Subscription
from policies.loader import load_policy_set
from policies.snapshot import compile_snapshot

Consumer = Annotated[str, typer.Option("--consumer", help="The receiving agency's id.")]
EventType = Annotated[str, typer.Option("--event-type", help="e.g. population.AddressChanged")]
Purpose = Annotated[str, typer.Option("--purpose", help="The purpose code the grant names.")]
PolicyDir = Annotated[Path, typer.Option("--policy", help="The policy set in force.")]


def subscribe(
    consumer: Consumer, event_type: EventType, purpose: Purpose, policy: PolicyDir
) -> None:
    """Register a subscription if a grant permits it; otherwise refuse with the reason (audited)."""
    connection = broker.admin_connection(load_kafka_settings())
    snapshot = compile_snapshot(load_policy_set(policy))
    wanted = Subscription(consumer, event_type, purpose)
    decision = asyncio.run(
        subscribe_service(connection, KafkaAdmin(connection), snapshot, wanted, datetime.now(UTC))
    )
    if not decision.permitted:
        typer.echo(
            f"refused ({', '.join(r.value for r in decision.reasons)}): {decision.explanation}",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"subscribed: {consumer} × {event_type} × {purpose} under grant {decision.grant_id}")


def unsubscribe(consumer: Consumer, event_type: EventType, purpose: Purpose) -> None:
    """Remove a subscription; the next ACL sync takes the consumer's access away."""
    connection = broker.admin_connection(load_kafka_settings())
    ensure_registry_topics(KafkaAdmin(connection))
    asyncio.run(subscriptions.unregister(connection, Subscription(consumer, event_type, purpose)))
    typer.echo(f"unsubscribed: {consumer} × {event_type} × {purpose}")


def list_subscriptions() -> None:
    """The subscriptions in force."""
    connection = broker.admin_connection(load_kafka_settings())
    ensure_registry_topics(KafkaAdmin(connection))
    for s in asyncio.run(subscriptions.load(connection)):
        typer.echo(f"{s.consumer:24} {s.event_type:34} {s.purpose}")
