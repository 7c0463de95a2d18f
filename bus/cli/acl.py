"""`bus acl sync`: the broker's ACLs follow the policy in force and the subscriptions."""

import asyncio
import time

import typer

from bus.cli.params import PolicySetOption, PolicyTopicOption
from bus.control import policy_store, subscriptions
from bus.control.acls import describe, desired_acls, sync_acls
from bus.control.topology import ensure_registry_topics
from bus.devenv import broker
from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import load_kafka_settings
from bus.kafka.topics import POLICY_TOPIC
from bus.policy.loader import PolicySet, load_policy_set
from bus.policy.snapshot import compile_snapshot

app = typer.Typer(help="Broker ACLs derived from policy and subscriptions.", no_args_is_help=True)


@app.command("sync")
def sync(
    policy: PolicySetOption = None,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
) -> None:
    """Grant what the policy and the subscriptions in force allow, and revoke every other ACL an
    agency holds (also of agencies no longer in the policy). The bus's own principals are kept."""
    policy_set = load_policy_set(policy) if policy is not None else None
    connection = broker.admin_connection(load_kafka_settings())
    admin = KafkaAdmin(connection)
    ensure_registry_topics(admin)
    snapshot = compile_snapshot(policy_set or _applied(connection, admin, policy_topic))
    subs = asyncio.run(subscriptions.load(connection))
    changes = sync_acls(admin, desired_acls(snapshot, subs, time.time()))
    for added in sorted(changes.added, key=describe):
        typer.echo(f"+ {describe(added)}")
    for removed in sorted(changes.removed, key=describe):
        typer.echo(f"- {describe(removed)}")
    typer.echo(f"ACLs in sync: {len(changes.added)} added, {len(changes.removed)} removed")


def _applied(connection: KafkaConnection, admin: KafkaAdmin, topic: str) -> PolicySet:
    policy_store.ensure_policy_topic(admin, topic)
    applied = asyncio.run(policy_store.latest(connection, topic))
    if applied is None:
        # Syncing to "no policy" would revoke every agency's access: make that a deliberate act.
        raise ConfigError(
            "no policy set has been applied: run `bus policy apply DIR` or pass --policy DIR"
        )
    return applied
