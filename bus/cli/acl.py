"""`bus acl sync [--watch]`: the broker's ACLs follow the policy in force and the subscriptions; with
`--watch`, the operator also keeps creating the topics the state needs. As the bus's operator
(its connection profile), never the broker's admin."""

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.params import (
    PolicySetOption,
    PolicyTopicOption,
    ProfileOption,
    SubscriptionsTopicOption,
    topic_name,
)
from bus.cli.signals import stop_on_signals
from bus.control import policy_store, subscriptions
from bus.control.acls import describe, desired_acls, sync_acls
from bus.control.operator_watch import WatchTiming, run_operator_watch
from bus.control.retention import load_retention_settings
from bus.control.state_reading import StateTopics
from bus.control.topology import ensure_registry_topics
from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile
from bus.kafka.topics import INGRESS_PREFIX, POLICY_TOPIC, SUBSCRIPTIONS_TOPIC
from bus.policy.loader import PolicySet, load_policy_set
from bus.policy.snapshot import compile_snapshot
from bus.util.logs import LogFormat, configure_logging

app = typer.Typer(help="Broker ACLs derived from policy and subscriptions.", no_args_is_help=True)

IngressPrefixOption = Annotated[
    str,
    typer.Option(
        metavar="PREFIX",
        # Hidden: for tests on a shared broker (as `bus enforce --ingress-prefix`).
        help="Create the ingress topics named PREFIX<event type> (tests only).",
        callback=topic_name,
        hidden=True,
    ),
]


@app.command("sync")
def sync(
    policy: PolicySetOption = None,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    subscriptions_topic: SubscriptionsTopicOption = SUBSCRIPTIONS_TOPIC,
    profile: ProfileOption = None,
    watch_state: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Keep following the policy and subscription topics until SIGTERM or Ctrl-C: every "
            "few seconds, and at once on a change, create the topics the state needs, reconcile "
            "their retention and sync ACLs; each change is logged.",
        ),
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", min=0.5, max=3600, help="With --watch: a full pass this often."
        ),
    ] = 5.0,
    ingress_prefix: IngressPrefixOption = INGRESS_PREFIX,
    log_format: Annotated[
        LogFormat, typer.Option(help="With --watch: json (one object per line) or text.")
    ] = LogFormat.JSON,
) -> None:
    """Grant what the policy and the subscriptions in force allow, and revoke every other ACL an
    agency holds (also of agencies no longer in the policy). The bus's own principals are kept."""
    policy_set = load_policy_set(policy) if policy is not None else None
    topics = StateTopics(policy_topic, subscriptions_topic)
    connection = load_profile("operator", profile)
    if watch_state:
        configure_logging(log_format, logging.INFO)
        _watch(connection, topics, policy, ingress_prefix, WatchTiming(interval_s=interval))
        typer.echo("operator watch stopped")
        return
    admin = KafkaAdmin(connection)
    ensure_registry_topics(admin, subscriptions_topic)
    snapshot = compile_snapshot(policy_set or _applied(connection, admin, policy_topic))
    subs = asyncio.run(subscriptions.load(connection, subscriptions_topic))
    changes = sync_acls(admin, desired_acls(snapshot, subs, time.time()))
    for added in sorted(changes.added, key=describe):
        typer.echo(f"+ {describe(added)}")
    for removed in sorted(changes.removed, key=describe):
        typer.echo(f"- {describe(removed)}")
    typer.echo(f"ACLs in sync: {len(changes.added)} added, {len(changes.removed)} removed")


def _watch(
    connection: KafkaConnection,
    topics: StateTopics,
    policy_dir: Path | None,
    ingress_prefix: str,
    timing: WatchTiming,
) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_operator_watch(
            connection, topics, policy_dir, ingress_prefix, load_retention_settings(), timing, stop
        )

    asyncio.run(main())


def _applied(connection: KafkaConnection, admin: KafkaAdmin, topic: str) -> PolicySet:
    policy_store.ensure_policy_topic(admin, topic)
    applied = asyncio.run(policy_store.latest(connection, topic))
    if applied is None:
        # Syncing to "no policy" would revoke every agency's access: make that a deliberate act.
        raise ConfigError(
            "no policy set has been applied: run `bus policy apply DIR` or pass --policy DIR"
        )
    return applied
