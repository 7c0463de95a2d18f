"""`bus audit reconcile`: the audit store against the audit topic, record by record."""

import asyncio
import json

import typer

from bus.audit.indexer_access import INDEXER_ROLE
from bus.audit.reconcile import reconcile
from bus.audit.store import open_store
from bus.cli.audit import Json, Store
from bus.cli.audit_index import store_url_default
from bus.cli.audit_witness import (
    AuditTopic,
    CheckpointTopicOf,
    PinnedKey,
    pinned_public_key,
    witness_as,
)
from bus.cli.params import ProfileOption
from bus.kafka.profile import load_profile
from bus.kafka.topics import AUDIT_TOPIC, checkpoints_topic


def reconcile_command(
    store: Store = None,
    topic: AuditTopic = AUDIT_TOPIC,
    pinned_key: PinnedKey = None,
    checkpoint_topic: CheckpointTopicOf = None,
    as_json: Json = False,
    profile: ProfileOption = None,
) -> None:
    """Check that every committed record on the audit topic, up to where the indexer has read,
    is in the store exactly once with the same bytes. "Up to where" is what the newest checkpoint
    on the witness topic signed (or further, if the store says so), so a store position lowered
    to hide deleted records is reported, and those records are missing, not backlog. Exit 1
    naming what is missing, changed, extra or lowered. Reads as `audit-indexer` (its connection
    profile: --profile, else $BUS_PROFILE, else its default file)."""
    public_key = pinned_public_key(pinned_key, store_url=store or store_url_default())
    witness_topic = checkpoint_topic or checkpoints_topic(topic)
    connection = load_profile(INDEXER_ROLE, profile)
    witness = witness_as(connection, witness_topic, public_key)  # before the store: see reconcile
    audit_store = open_store(store or store_url_default())
    try:
        report = asyncio.run(reconcile(connection, audit_store, topic, witness))
    finally:
        audit_store.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "topic": topic,
                    "consistent": report.consistent,
                    "compared": report.compared,
                    "witnessed_seq": report.witnessed_seq,
                    "beyond_retention": report.beyond_retention,
                    "not_indexed": report.not_indexed,
                    "counts": {kind.value: n for kind, n in sorted(report.counts.items())},
                    "discrepancies": [
                        {
                            "kind": d.kind.value,
                            "topic": d.foreign_topic or topic,
                            "partition": d.partition,
                            "offset": d.offset,
                            "seq": d.seq,
                        }
                        for d in report.shown
                    ],
                },
                indent=2,
            )
        )
    else:
        typer.echo(
            f"{report.compared} record(s) on {topic} compared with the store; "
            f"{report.beyond_retention} stored record(s) past the topic's retention, "
            f"{report.not_indexed} record(s) not indexed yet"
        )
        for discrepancy in report.shown:
            typer.echo(f"{discrepancy.kind.value}: {discrepancy.describe(topic)}")
        hidden = sum(report.counts.values()) - len(report.shown)
        if hidden:
            typer.echo(f"… and {hidden} more")
        typer.echo("consistent" if report.consistent else "NOT CONSISTENT with the topic")
    if not report.consistent:
        raise typer.Exit(1)
