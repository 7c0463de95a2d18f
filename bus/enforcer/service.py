"""The enforcer's loop: consume ingress, process, and commit outputs with the input offsets in one
Kafka transaction per batch and partition. Exactly once, or not at all.

Nothing an agency sends can stop it: process() quarantines what it cannot handle, a failure in
the loop itself aborts and retries the batch a bounded number of times (see failures.py and
recovery.py), and metrics and logging after a commit never undo or repeat it (observer.py). A
republished (source, event id) is quarantined as DUPLICATE_EVENT (see seen_events.py and
seen_journal.py)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerFenced, UnknownTopicOrPartitionError

from bus.enforcer.failures import Failures, Plan, ProcessingFault, RetryTimes
from bus.enforcer.input_records import Batch, in_record
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.observer import LoopObserver
from bus.enforcer.partition_producers import PartitionProducers
from bus.enforcer.pipeline import EnforcerState, process
from bus.enforcer.rebalance import Rebalance
from bus.enforcer.record_outcome import Processor, outcome_of
from bus.enforcer.recovery import SET_UP_RETRY_S, Recovery
from bus.enforcer.seen_events import SeenEvents, SeenInBatch
from bus.enforcer.seen_journal import SeenEventsConfig, ensure_journals, journal, rebuild
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection

log = logging.getLogger(__name__)
# Writes a batch's acceptances to its partition's journal, inside the open transaction.
JournalWriter = Callable[[AIOKafkaProducer, str, TopicPartition, SeenInBatch], Awaitable[None]]


class Enforcer:
    """The enforcer's service: consumes the ingress topics and, per batch and input partition,
    processes each record (verify, decide, disclose) and commits its deliveries, audit records,
    quarantine copies and the input offsets in one Kafka transaction. `run_enforcer` (runtime.py)
    wires it to the state watcher; `processed` counts the records committed.

    Parameters:
        connection: the broker and the enforcer's credentials.
        topics: the ingress topics to consume.
        state: returns the state in force (policy snapshot, keys, subscriptions, pseudonyms);
            asked once per transaction, so a new state applies from the next one.
        group: the consumer group; it also prefixes the per-partition transactional ids and
            names the seen-events journals.
        batch_size: at most this many records per fetch.
        clock: the time decisions are made at (a grant's validity), of the metrics, and against
            which the seen-events journal's age is judged.
        processor: turns a record into outputs; `process` except where a benchmark measures the
            loop's own I/O.
        metrics: Prometheus metrics to update, if any.
        seen_events: how far back a republished (source, event id) is caught as DUPLICATE_EVENT.
        may_proceed: false while the state in force may not be relied on (stale, no policy):
            every partition is paused until it is true again.
        retry_times: how long a failing partition waits before it is tried again.
        write_journal: writes a batch's acceptances to the seen-events journal (seen_journal's
            `journal`); and
        recovery: the class that handles a partition's failures (`Recovery`): both replaceable
            only so a test can make them fail and see the loop lose nothing.
    """

    def __init__(
        self,
        connection: KafkaConnection,
        topics: list[str],
        state: Callable[[], EnforcerState],
        *,
        group: str = "bus-enforcer",
        batch_size: int = 200,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        processor: Processor = process,
        metrics: EnforcerMetrics | None = None,
        seen_events: SeenEventsConfig | None = None,
        # False while the state in force may not be relied on (stale policy): consumption pauses.
        may_proceed: Callable[[], bool] = lambda: True,
        retry_times: RetryTimes | None = None,
        write_journal: JournalWriter = journal,
        recovery: type[Recovery] = Recovery,
    ) -> None:
        self._connection = connection
        self._topics = topics
        self._state = state
        self._group = group
        self._batch_size = batch_size
        self._clock = clock
        self._process = processor  # swappable only so a benchmark can measure the bare I/O
        self._observer = LoopObserver(metrics, clock)
        self._producers = PartitionProducers(connection, f"{group}.tx")
        # Held for a whole transaction, so a rebalance never closes a producer mid-transaction.
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        # Next offset to process per partition. Records below it were committed already: aiokafka
        # may still hand out records fetched before a seek, and they must not be processed twice.
        self._next_offset: dict[TopicPartition, int] = {}
        self._seen_config = seen_events or SeenEventsConfig()
        # Per assigned partition, once rebuilt; a partition without it is not processed.
        self._seen: dict[TopicPartition, SeenEvents] = {}
        self._failures = Failures(retry_times or RetryTimes())
        self._write_journal = write_journal
        self._recovery_class = recovery
        self._recovery: Recovery | None = None  # made with the consumer, in run()
        self._admin: KafkaAdmin | None = None  # for the journals' topics, made when first needed
        self._may_proceed = may_proceed
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; then finish the open transaction (never half) and leave the group."""
        await asyncio.to_thread(self._ensure_journals, self._topics)
        consumer = AIOKafkaConsumer(
            **self._connection.aiokafka_kwargs(),
            group_id=self._group,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        self._consumer = consumer
        recovery = self._recovery = self._recovery_class(
            consumer,
            self._producers,
            self._lock,
            self._seen,
            self._failures,
            self._observer,
            self._set_up,
        )
        consumer.subscribe(self._topics, listener=Rebalance(self))
        await consumer.start()
        try:
            while not stop.is_set():
                if not self._may_proceed():
                    await self._hold(stop)
                    continue
                try:
                    batches = await consumer.getmany(timeout_ms=500, max_records=self._batch_size)
                except Exception:  # e.g. the broker restarting: fetch again
                    log.exception("fetching input failed; fetching again in 1 s")
                    self._observer.error("fetch")
                    await self._isolate_unreadable()
                    await asyncio.sleep(1)
                    continue
                for tp, records in batches.items():
                    if records:
                        await self._transact_or_recover(tp, records)
        finally:
            recovery.cancel()
            async with self._lock:
                await self._producers.stop_all()
            await consumer.stop()

    async def _hold(self, stop: asyncio.Event) -> None:
        """While `may_proceed` is false nothing is processed: every partition is paused and its
        input waits in Kafka (nothing permitted, nothing lost). Polling goes on, so the consumer
        stays in its group; a record that still arrives is rewound to. Then the partitions paused
        here are resumed."""
        assert self._consumer is not None
        log.error("consumption paused: the state in force is not current")
        held: set[TopicPartition] = set()
        while not self._may_proceed() and not stop.is_set():
            unpaused = self._consumer.assignment() - self._consumer.paused()
            self._consumer.pause(*unpaused)
            held |= unpaused
            try:
                batches = await self._consumer.getmany(timeout_ms=500)
            except Exception:  # e.g. the broker restarting: poll again
                await asyncio.sleep(0.5)
                continue
            for tp, records in batches.items():
                if records:
                    self._consumer.seek(tp, records[0].offset)
        self._consumer.resume(*(held & self._consumer.assignment()))
        log.warning("consumption resumed: the state in force is current again")

    async def _isolate_unreadable(self) -> None:
        """A record the client cannot even decode (a header name that is not UTF-8: the broker
        takes it, aiokafka refuses it on every fetch) would stop every partition of this
        consumer. Find the partition by asking for each one's buffered records alone, and stall
        that one only (Recovery.unreadable). Nothing is lost: the record stays in Kafka, and the
        others are rewound to their committed offsets (the failed fetch may have consumed some)."""
        consumer, recovery = self._consumer, self._recovery
        assert consumer is not None
        assert recovery is not None
        async with self._lock:
            for tp in consumer.assignment() - consumer.paused():
                try:
                    await consumer.getmany(tp, timeout_ms=0)
                except Exception as exc:  # this partition holds the unreadable record
                    recovery.unreadable(tp, self._next_offset.get(tp), exc)
                    continue
                if tp in self._next_offset:
                    consumer.seek(tp, self._next_offset[tp])

    async def _transact_or_recover(self, tp: TopicPartition, records: Batch) -> None:
        assert self._recovery is not None
        try:
            await self._transact(tp, records)
        except Exception as exc:  # the last line of defence: the loop goes on
            await self._recovery.unexpected(tp, records, exc)

    async def _transact(self, tp: TopicPartition, records: Batch) -> None:
        assert self._consumer is not None
        assert self._recovery is not None
        async with self._lock:
            producer, seen = self._producers.get(tp), self._seen.get(tp)
            if producer is None or seen is None:
                return  # revoked while we were fetching, or recovering: these are read again
            floor = self._next_offset.get(tp, 0)
            records = [r for r in records if r.offset >= floor]
            if not records:
                return
            if not self._may_proceed():  # went stale since the fetch: read these again later
                self._consumer.seek(tp, records[0].offset)
                return
            plan = self._failures.plan(tp, records[0].offset)
            narrowed = plan is not Plan.BATCH and len(records) > 1
            if narrowed:
                records = records[:1]  # narrow a failing batch down to the record at fault
            set_aside_after = self._failures.last_error(tp) if plan is Plan.SET_ASIDE else None
            batch = seen.batch()
            event_times: list[datetime] = []
            try:
                state, now = self._state(), self._clock()
                partition_count = self._partition_count(tp.topic)
                await producer.begin_transaction()
                for record in records:
                    started = time.perf_counter()
                    try:
                        outcome = outcome_of(
                            in_record(record, partition_count),
                            state,
                            now,
                            batch,
                            self._process,
                            set_aside_after,
                        )
                    except Exception as exc:  # our own work, not the Kafka client's
                        raise ProcessingFault(type(exc).__name__) from exc
                    self._observer.outcome(
                        record, outcome, time.perf_counter() - started, event_times
                    )
                    for out in outcome.records:
                        await producer.send(out.topic, out.value, key=out.key, headers=out.headers)
                await self._write_journal(producer, self._group, tp, batch)
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1}, self._group
                )
                committing = time.perf_counter()
                await producer.commit_transaction()
            except ProducerFenced:
                await self._recovery.fenced(tp)
                return
            except Exception as exc:  # any failure: abort, rewind, bounded retry
                await self._recovery.failed(tp, plan, records, exc)
                return
            batch.commit()
            next_offset = self._next_offset[tp] = records[-1].offset + 1
            if narrowed:  # the rest of the fetched batch was dropped: fetch it again
                self._consumer.seek(tp, next_offset)
            self.processed += len(records)
            self._recovery.succeeded(tp, next_offset)
            self._observer.committed(
                self._consumer,
                tp,
                next_offset,
                state,
                event_times,
                time.perf_counter() - committing,
                len(seen),
            )

    def _partition_count(self, topic: str) -> int:
        """The topic's partitions as the consumer's metadata knows them (records must be on their
        key's partition). Unknown is the broker's fault, never the record's: the batch waits."""
        assert self._consumer is not None
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            raise UnknownTopicOrPartitionError(f"no metadata for {topic}")
        return len(partitions)

    async def _set_up(self, partitions: list[TopicPartition]) -> None:
        """Producer first: its init_transactions fences the old owner and settles its pending
        transaction, so the committed offset and the journal we read next are final. After an
        ambiguous error the old producer is not reused (a late EndTxn could hit a later
        transaction); the fresh one aborts whatever is pending, then we rewind (KAFKA-17582)."""
        assert self._consumer is not None
        for tp in partitions:
            await self._producers.start(tp)
            await self._seek_to_committed(tp)
        # An ingress topic created after the start has no journal yet.
        await asyncio.to_thread(self._ensure_journals, {tp.topic for tp in partitions})
        memories = await rebuild(
            self._connection, self._group, partitions, self._seen_config, self._clock()
        )
        self._seen.update(memories)

    async def _seek_to_committed(self, tp: TopicPartition) -> None:
        assert self._consumer is not None
        committed = await self._consumer.committed(tp)
        self._next_offset[tp] = committed or 0
        if committed is None:
            # Nothing committed yet: from the beginning. Not left to auto_offset_reset, which
            # only applies to a fresh position: after a failed first batch the position is past
            # it, and those records would be skipped.
            await self._consumer.seek_to_beginning(tp)
        else:
            self._consumer.seek(tp, committed)

    async def assigned(self, partitions: list[TopicPartition]) -> None:
        """Rebalance: set up the partitions now ours (producer, offsets, seen events); one that
        cannot be set up is paused and tried again later, never failing the rebalance."""
        async with self._lock:
            try:
                await self._set_up(partitions)
            except Exception:  # never fail a rebalance: set each up later
                log.exception("setting up %s failed; retrying in 5 s", partitions)
                self._observer.error("assign")
                assert self._recovery is not None
                for tp in partitions:
                    self._recovery.set_up_later(tp, SET_UP_RETRY_S, pause=True)
        log.info("assigned %s", sorted(f"{tp.topic}/{tp.partition}" for tp in partitions))

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        """Rebalance: let go of the partitions taken from us (their producers, offsets, seen
        events and failure streaks), between transactions."""
        assert self._recovery is not None
        async with self._lock:
            for tp in partitions:
                await self._producers.stop(tp)
                self._next_offset.pop(tp, None)
                self._seen.pop(tp, None)
                self._recovery.forget(tp)
        log.info("revoked %s", sorted(f"{tp.topic}/{tp.partition}" for tp in partitions))

    def _ensure_journals(self, topics: Iterable[str]) -> None:
        if self._admin is None:
            self._admin = KafkaAdmin(self._connection)
        ensure_journals(self._admin, self._group, topics, self._seen_config)
