"""`bus topics reconcile`: the bus's topics keep data as long as the retention rule says, no longer.

A group of its own, not under `bus kafka` (which runs this repository's local broker): it works on
any deployment's topics, as the operator.
"""

import asyncio
from typing import Annotated

import typer

from bus.cli.params import PolicySetOption, PolicyTopicOption
from bus.control import policy_store
from bus.control.retention import RetentionRule, load_retention_settings, reconcile
from bus.devenv import broker
from bus.kafka.admin import KafkaAdmin
from bus.kafka.settings import load_kafka_settings
from bus.kafka.topics import POLICY_TOPIC
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot, empty_snapshot

app = typer.Typer(help="The bus's topics and their configuration.", no_args_is_help=True)


@app.command("reconcile")
def reconcile_command(
    policy: PolicySetOption = None,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only print what differs; change nothing.")
    ] = False,
) -> None:
    """Bring the retention of the bus's existing topics to the rule (BUS_RETENTION_* bounds, each
    delivery topic at most its purpose's retention_days, audit kept forever); prints each change
    as `topic key: old -> new`."""
    settings = load_retention_settings()
    # A broken policy set or bound is refused before anything reaches the broker.
    policy_snapshot = None if policy is None else compile_snapshot(load_policy_set(policy))
    connection = broker.admin_connection(load_kafka_settings())
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
