"""`bus topics provision`: the topics the bus needs, on a fresh cluster, so that the enforcer can
start; `bus topics reconcile`: the bus's topics keep data as long as the retention rule says, no
longer.

A group of its own, not under `bus kafka` (which runs this repository's local broker): it works on
any deployment's topics, as the operator (its connection profile), never the broker's admin.
"""

import asyncio
from typing import Annotated

import typer

from bus.cli.acl import IngressPrefixOption
from bus.cli.params import (
    PolicySetOption,
    PolicyTopicOption,
    ProfileOption,
    SubscriptionsTopicOption,
)
from bus.control import policy_store
from bus.control.broker_setup import KafkaBrokerSetup
from bus.control.operator_watch import OperatorPass
from bus.control.retention import RetentionRule, load_retention_settings, reconcile
from bus.control.state_reading import BusStateSource, StateTopics
from bus.kafka.admin import KafkaAdmin
from bus.kafka.profile import load_profile
from bus.kafka.topics import INGRESS_PREFIX, POLICY_TOPIC, SUBSCRIPTIONS_TOPIC
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot, empty_snapshot

app = typer.Typer(help="The bus's topics and their configuration.", no_args_is_help=True)


@app.command("provision")
def provision_command(
    policy: PolicySetOption = None,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    subscriptions_topic: SubscriptionsTopicOption = SUBSCRIPTIONS_TOPIC,
    ingress_prefix: IngressPrefixOption = INGRESS_PREFIX,
    profile: ProfileOption = None,
) -> None:
    """Create every topic the bus needs now: the policy and subscription topics, ingress, audit,
    quarantine, and for the policy and subscriptions in force their delivery, dead-letter and
    source-offsets topics, each with its retention (existing ones reconciled). Idempotent; run it
    once on a fresh cluster before the enforcer, and keep `bus acl sync --watch` running after."""
    topics = StateTopics(policy_topic, subscriptions_topic)
    if policy is not None:
        compile_snapshot(load_policy_set(policy))  # a broken set is refused before the broker
    connection = load_profile("operator", profile)
    admin = KafkaAdmin(connection)
    one_pass = OperatorPass(
        KafkaBrokerSetup(admin, load_retention_settings()),
        BusStateSource(connection, policy, topics),
        topics,
        ingress_prefix,
    )
    report = asyncio.run(one_pass.run(acls=False))
    for line in report.lines():
        typer.echo(line)
    typer.echo(
        f"topics provisioned: {len(report.created)} created "
        f"(policy {report.policy[:19] if report.policy else 'none applied'}, "
        f"{report.subscriptions} subscription(s))"
    )


@app.command("reconcile")
def reconcile_command(
    policy: PolicySetOption = None,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print what differs; change nothing.")
    ] = False,
    profile: ProfileOption = None,
) -> None:
    """Bring the retention of the bus's existing topics to the rule (BUS_RETENTION_* bounds, each
    delivery topic at most its purpose's retention_days, audit kept forever); prints each change
    as `topic key: old -> new`."""
    settings = load_retention_settings()
    # A broken policy set or bound is refused before anything reaches the broker.
    policy_snapshot = None if policy is None else compile_snapshot(load_policy_set(policy))
    connection = load_profile("operator", profile)
    admin = KafkaAdmin(connection)
    if policy_snapshot is not None:
        snapshot = policy_snapshot
    else:
        applied = asyncio.run(policy_store.latest(connection, policy_topic))
        if applied is None:
            typer.echo("no policy set applied: delivery topics get the bound alone")
        snapshot = empty_snapshot() if applied is None else compile_snapshot(applied)
    rule = RetentionRule.of(snapshot, settings)
    changes = reconcile(admin, rule.wanted(admin.list_topics()), dry_run=dry_run)
    for change in changes:
        typer.echo(str(change))
    verb = "would change" if dry_run else "changed"
    typer.echo(f"retention reconciled: {verb} {len(changes)} setting(s)")
