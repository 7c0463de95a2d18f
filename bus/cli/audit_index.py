"""`bus audit index`: keep the audit store in step with the audit topic (a service), or catch up
once (`--once`)."""

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry

from bus.audit.audit_key import (
    AuditKeyFiles,
    StoreSigned,
    default_pinned_key,
    ensure_audit_key,
    pin_audit_key,
)
from bus.audit.erasure_indexer import keep_erasures_indexed
from bus.audit.indexer import IndexerOptions, IndexerProgress, run_indexer
from bus.audit.indexer_access import INDEXER_ROLE
from bus.audit.indexer_metrics import IndexerMetrics
from bus.audit.store import default_store_url, open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.store.connect import store_directory
from bus.cli.audit_witness import AuditTopic, CheckpointTopicOf, PinnedKey
from bus.cli.params import ProfileOption
from bus.cli.signals import stop_on_signals
from bus.kafka.profile import load_profile
from bus.kafka.topics import AUDIT_TOPIC, checkpoints_topic
from bus.util.logs import LogFormat, configure_logging
from bus.util.metrics_endpoint import serve_metrics

log = logging.getLogger("bus.audit.index")
PROGRESS_EVERY_S = 5.0  # a progress line while catching up, not one per batch
METRICS_PORT = 9465  # the enforcer's is 9464: both may run on one host


def store_url_default() -> str:
    """The audit store the `bus audit` commands use without --store: $BUS_AUDIT_STORE, else the
    default SQLite file."""
    return os.environ.get("BUS_AUDIT_STORE") or default_store_url()


def index(
    store: Annotated[
        str | None,
        typer.Option(
            help="sqlite:///PATH or postgresql://…  Default: $BUS_AUDIT_STORE or var/audit/audit.db."
        ),
    ] = None,
    once: Annotated[bool, typer.Option(help="Stop when caught up (and signed).")] = False,
    checkpoint_every: Annotated[
        int, typer.Option(min=1, max=10_000_000, help="Sign every N records.")
    ] = 1_000,
    checkpoint_seconds: Annotated[
        float, typer.Option(min=0.1, max=86_400, help="…and at least every T seconds.")
    ] = 60.0,
    topic: AuditTopic = AUDIT_TOPIC,
    key_dir: Annotated[
        Path | None, typer.Option(help="Where the audit key lives. Default: var/audit/keys.")
    ] = None,
    pinned_key: PinnedKey = None,
    pin: Annotated[
        bool,
        typer.Option(
            "--pin",
            help="Pin the audit key although the store already holds checkpoints (after the pin "
            "was lost; only the key that signed them). Without it, a missing pin is refused then.",
        ),
    ] = False,
    checkpoint_topic: CheckpointTopicOf = None,
    max_batch: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Records per store transaction.")
    ] = 5_000,
    log_format: Annotated[LogFormat, typer.Option(help="json or text.")] = LogFormat.JSON,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65_535,
            help=f"Serve Prometheus /metrics on 127.0.0.1:PORT. Default: {METRICS_PORT} as a "
            "service, off with --once; 0: off.",
        ),
    ] = None,
    profile: ProfileOption = None,
) -> None:
    """Store every audit record exactly once, hash-chained, with checkpoints signed by the audit
    key (made on first use in var/audit/keys, its public key then pinned outside the store; a key
    that does not match the pin is refused) and published to the witness topic. Runs as its own
    user `audit-indexer` (READ on the audit and policy topics, WRITE on the witness topic only),
    from its connection profile (--profile, else $BUS_PROFILE, else its default file). Topics
    other than the bus's own: the operator grants it them first (`bus audit grant-indexer`).
    SIGTERM or Ctrl-C: commits, signs, stops."""
    configure_logging(log_format)
    metrics = _serve_metrics(
        (0 if once else METRICS_PORT) if metrics_port is None else metrics_port
    )
    # Its own principal only. Its topics and its ACLs on them are the operator's: the bus's own
    # come with the installation, others from `bus audit grant-indexer`.
    connection = load_profile(INDEXER_ROLE, profile)
    files = AuditKeyFiles.in_directory(key_dir) if key_dir else AuditKeyFiles.default()
    key = ensure_audit_key(files)
    pinned = pinned_key or default_pinned_key()
    url = store or store_url_default()
    audit_store = open_store(url)
    try:
        signed = StoreSigned(store_directory(url), audit_store.newest_checkpoint_key())
        if pin_audit_key(key, pinned, files, signed, pin_on_purpose=pin):
            log.info("audit public key pinned", extra={"path": str(pinned), "key_id": key.kid})
    except BaseException:
        audit_store.close()
        raise
    witness = checkpoint_topic or checkpoints_topic(topic)
    checkpointing = Checkpointing(key, checkpoint_every, checkpoint_seconds)
    options = IndexerOptions(
        audit_topic=topic, checkpoint_topic=witness, until_caught_up=once, max_batch=max_batch
    )

    last_report = [0.0]

    def report(state: IndexerProgress) -> None:
        if time.monotonic() - last_report[0] < PROGRESS_EVERY_S:
            return
        last_report[0] = time.monotonic()
        log.info(
            "stored",
            extra={
                "stored": state.stored,
                "checkpoints": state.checkpoints,
                "snapshots": state.snapshots,
                "unreadable": state.unreadable,
            },
        )

    async def main() -> IndexerProgress:
        stop = asyncio.Event()
        stop_on_signals(stop)
        # The consumers' erasure records ride along (bus/audit/erasure_indexer.py): read now,
        # every half minute, and once more as the indexer leaves.
        finished = asyncio.Event()
        erasures = asyncio.create_task(keep_erasures_indexed(connection, audit_store, finished))
        try:
            return await run_indexer(
                connection, audit_store, checkpointing, stop, options, report, metrics=metrics
            )
        finally:
            finished.set()
            erased = await erasures
            log.info("erasure records read", extra={"stored": erased.stored})

    try:
        state = asyncio.run(main())
    finally:
        audit_store.close()
    typer.echo(
        f"audit store {audit_store.description}: {state.stored} record(s) stored, "
        f"{state.checkpoints} checkpoint(s) signed, {state.snapshots} policy snapshot(s), "
        f"{state.unreadable} unreadable"
    )


def _serve_metrics(port: int) -> IndexerMetrics | None:
    if not port:
        return None
    registry = CollectorRegistry()
    metrics = IndexerMetrics(registry)
    serve_metrics(port, registry)
    return metrics
