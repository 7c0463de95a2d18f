"""`bus audit index`: the audit topic into the audit store, exactly once.

Exactly once without Kafka transactions on the reading side: the store keeps, in the same
database transaction as the records, the next offset of every source partition; a restart seeks
there. A crash before the commit loses nothing (the batch is read again), a crash after it
repeats nothing. The policy topic is read along, so every snapshot a decision names is kept by
hash for replay, whatever Kafka's compaction does later. Every checkpoint signed is then
published to the witness topic (bus/audit/checkpoint_publisher.py), after its commit. The store
takes records from its one audit topic only, and an indexer whose store is behind its witness
refuses to start.
"""

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from bus.audit.checkpoint_publisher import CheckpointPublisher
from bus.audit.columns import unreadable_reason
from bus.audit.indexer_metrics import IndexerMetrics
from bus.audit.store.audit_store import AuditStore, Checkpointing
from bus.audit.store.rows import AppendResult, SourceRecord
from bus.audit.verify import publication_due
from bus.errors import BrokerError
from bus.kafka.connection import KafkaConnection
from bus.kafka.position import record_position
from bus.kafka.seeking import seek_to_stored
from bus.kafka.topics import AUDIT_TOPIC, POLICY_TOPIC

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexerOptions:
    """What the indexer reads and when it stops.

    Parameters:
        audit_topic: the audit topic the store is filled from.
        policy_topic: the policy topic whose snapshots are kept for replay; None: none are.
        checkpoint_topic: the witness topic; None: checkpoints stay in the store only.
        max_batch: at most this many records per fetch (and per store transaction).
        until_caught_up: stop once everything committed at start has been stored and signed.
        start_wait_s: how long to wait for topics the indexer cannot see yet.
    """

    audit_topic: str = AUDIT_TOPIC
    policy_topic: str | None = POLICY_TOPIC
    # The witness topic (bus.kafka.topics.checkpoints_topic); None: checkpoints stay in the store only.
    checkpoint_topic: str | None = None
    max_batch: int = 5_000
    # Stop once everything committed at start has been stored (and signed): for demos, tests, cron.
    until_caught_up: bool = False
    # Freshly created users and ACLs take a moment to reach the broker's authorizer.
    start_wait_s: float = 20.0


@dataclass
class IndexerProgress:
    """Counts since start (records, snapshots, checkpoints, unreadable records) and whether
    the indexer caught up (with `until_caught_up`)."""

    stored: int = 0
    snapshots: int = 0
    checkpoints: int = 0
    unreadable: int = 0
    caught_up: bool = False


Clock = Callable[[], datetime]


async def run_indexer(
    connection: KafkaConnection,
    store: AuditStore,
    checkpointing: Checkpointing,
    stop: asyncio.Event,
    options: IndexerOptions = IndexerOptions(),
    progress: Callable[[IndexerProgress], None] | None = None,
    clock: Clock = lambda: datetime.now(UTC),
    metrics: IndexerMetrics | None = None,
) -> IndexerProgress:
    """Index the audit topic into `store` until `stop` is set (or, with `until_caught_up`, until
    caught up), then sign the newest record; returns the counts.

    Parameters:
        connection: the broker and the indexer's credentials.
        store: the audit store; bound to `options.audit_topic` first.
        checkpointing: the audit key and the checkpoint cadence.
        stop: set to stop after the batch in hand.
        options: topics, batch size and stopping (IndexerOptions).
        progress: called with the counts after each stored batch.
        clock: the time stored with snapshots and signed into checkpoints.
        metrics: Prometheus metrics to update, if any.
    """
    # Records from any other topic are refused by the store: bound before anything is read.
    await asyncio.to_thread(store.bind_audit_topic, options.audit_topic)
    publisher = None
    if options.checkpoint_topic:
        publisher = CheckpointPublisher(
            connection,
            options.checkpoint_topic,
            checkpointing.key,
            late_after=lambda cp: publication_due(cp.cadence),
            on_late=lambda _: metrics.witness_late.inc() if metrics else None,
        )
    append = _Appender(store, metrics, publisher)
    topics = [options.audit_topic] + ([options.policy_topic] if options.policy_topic else [])
    consumer, partitions = await _start_consumer(connection, topics, options.start_wait_s)
    state = IndexerProgress()
    try:
        if publisher:
            await publisher.start(store)  # refuses a store behind its witness
        await seek_to_stored(consumer, partitions, await asyncio.to_thread(store.positions))
        ends = await consumer.end_offsets(partitions) if options.until_caught_up else {}
        unsigned = False
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=options.max_batch)
            records, snapshots = _split(batches, options.audit_topic)
            if records or snapshots:
                result = await append(
                    records, clock(), checkpointing, snapshots, _positions(batches)
                )
                unsigned = _count(state, result, progress)
            elif unsigned:
                # Idle: the time-based checkpoint still comes, with nothing new to read.
                result = await append([], clock(), checkpointing)
                state.checkpoints += len(result.checkpoints)
                unsigned = result.unsigned > 0
            elif publisher and publisher.behind:
                # Idle with checkpoints unpublished: try again (every RETRY_AFTER_S), or the
                # witness stays behind until the next record comes.
                await publisher.published(store, [])
            if metrics:
                await _measure_lag(consumer, partitions, metrics)
            if ends and all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                state.caught_up = True
                break
        # Leaving (caught up, or asked to stop): sign what is stored, so nothing is left unsigned.
        last = await append([], clock(), replace(checkpointing, sign_head_now=True))
        state.checkpoints += len(last.checkpoints)
    finally:
        await consumer.stop()
        if publisher:
            await publisher.stop()
    return state


async def _start_consumer(
    connection: KafkaConnection, topics: list[str], wait_s: float
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """A consumer holding every partition of `topics` (no group: the store keeps the positions).
    A topic it cannot see yet (just created, or its READ not yet propagated) is waited for."""
    deadline = time.monotonic() + wait_s
    while True:
        consumer = AIOKafkaConsumer(
            *topics,
            **connection.aiokafka_kwargs(),
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        problem = ""
        try:
            await consumer.start()
            partitions = sorted(consumer.assignment())
            missing = set(topics) - {tp.topic for tp in partitions}
            if not missing:
                return consumer, partitions
            problem = (
                f"topic(s) {', '.join(sorted(missing))} not found, or not readable as"
                f" {connection.username}"
            )
        except KafkaError as exc:
            problem = f"cannot read from the broker as {connection.username}: {exc!r}"
        # It never grants itself anything: an audit topic of another name is the operator's.
        problem += (
            ". If the topics exist, the bus's operator grants them with"
            " `bus audit grant-indexer --topic TOPIC`"
        )
        await consumer.stop()
        if time.monotonic() >= deadline:
            raise BrokerError(problem)
        await asyncio.sleep(0.5)


class _Appender:
    """`store.append` on a worker thread (the event loop keeps fetching), timed into metrics; what
    it signed is then published to the witness."""

    def __init__(
        self,
        store: AuditStore,
        metrics: IndexerMetrics | None,
        publisher: CheckpointPublisher | None,
    ) -> None:
        self._store, self._metrics, self._publisher = store, metrics, publisher

    async def __call__(
        self,
        records: list[SourceRecord],
        now: datetime,
        checkpointing: Checkpointing,
        snapshots: list[tuple[str, bytes]] | None = None,
        positions: dict[tuple[str, int], int] | None = None,
    ) -> AppendResult:
        started = time.perf_counter()
        result = await asyncio.to_thread(
            self._store.append, records, now, checkpointing, snapshots or [], positions
        )
        if self._metrics:
            self._metrics.appended(result, time.perf_counter() - started)
        if self._publisher:
            await self._publisher.published(self._store, result.checkpoints)
            if self._metrics:
                self._metrics.witness_behind.set(int(self._publisher.behind))
        return result


async def _measure_lag(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], metrics: IndexerMetrics
) -> None:
    for tp in partitions:
        highwater = consumer.highwater(tp)  # as of the last fetch: no request to the broker
        if highwater is not None:
            behind = highwater - await consumer.position(tp)
            metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, behind))


def _split(
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]], audit_topic: str
) -> tuple[list[SourceRecord], list[tuple[str, bytes]]]:
    records: list[SourceRecord] = []
    snapshots: list[tuple[str, bytes]] = []
    for tp in sorted(batches):
        for r in batches[tp]:
            if r.value is None:
                continue  # a tombstone: nothing to keep, its offset still counts as read
            if tp.topic == audit_topic:
                records.append(SourceRecord(tp.topic, tp.partition, r.offset, r.value))
            else:
                snapshots.append(("sha256:" + hashlib.sha256(r.value).hexdigest(), r.value))
    return records, snapshots


def _positions(
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
) -> dict[tuple[str, int], int]:
    return {(tp.topic, tp.partition): rs[-1].offset + 1 for tp, rs in batches.items() if rs}


def _count(
    state: IndexerProgress,
    result: AppendResult,
    progress: Callable[[IndexerProgress], None] | None,
) -> bool:
    """Account for one finished append; True if records are left unsigned."""
    state.stored += result.appended
    state.snapshots += result.snapshots
    state.checkpoints += len(result.checkpoints)
    state.unreadable += len(result.unreadable)
    for record in result.unreadable:
        log.warning(
            "an audit record is not readable as one; stored as UNREADABLE",
            extra={
                "input": record_position(record.topic, record.partition, record.offset),
                "reason": unreadable_reason(record.value),
            },
        )
    if progress:
        progress(state)
    return result.unsigned > 0
