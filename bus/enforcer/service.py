"""The enforcer's loop: consume ingress, process, and commit outputs with the input offsets in one
Kafka transaction per batch and partition. Exactly once, or not at all.

Nothing an agency sends can stop it: process() quarantines what it cannot handle, a failure in
the loop itself aborts and retries the batch a bounded number of times (see failures.py), and
metrics and logging after a commit never undo or repeat it. A republished (source, event id) is
quarantined as DUPLICATE_EVENT (see seen_events.py and seen_journal.py)."""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import ProducerFenced, UnknownTopicOrPartitionError

from bus.enforcer.failures import Failures, Plan, ProcessingFault, RetryTimes
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.partition_producers import PartitionProducers
from bus.enforcer.pipeline import (
    INTERNAL_ERROR,
    EnforcerState,
    InRecord,
    Outcome,
    process,
    quarantine,
)
from bus.enforcer.seen_events import SeenEvents, SeenInBatch
from bus.enforcer.seen_journal import SeenEventsConfig, ensure_journals, journal, rebuild
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.position import record_position

log = logging.getLogger(__name__)
DUPLICATE_EVENT = "DUPLICATE_EVENT"
UNEXPECTED_STALL_AFTER = 3  # unexpected failures in a row before the partition counts as stalled
Batch = list[ConsumerRecord[bytes, bytes]]


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
        processor: Callable[[InRecord, EnforcerState, datetime], Outcome] = process,
        metrics: EnforcerMetrics | None = None,
        seen_events: SeenEventsConfig | None = None,
        # False while the state in force may not be relied on (stale policy): consumption pauses.
        may_proceed: Callable[[], bool] = lambda: True,
        retry_times: RetryTimes | None = None,
    ) -> None:
        self._connection = connection
        self._topics = topics
        self._state = state
        self._group = group
        self._batch_size = batch_size
        self._clock = clock
        self._process = processor  # swappable only so a benchmark can measure the bare I/O
        self._metrics = metrics
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
        self._times = retry_times or RetryTimes()
        self._failures = Failures(self._times)
        # Failures in a row that _transact did not handle itself (a bug in the loop).
        self._unexpected: dict[TopicPartition, int] = {}
        self._retries: set[asyncio.Task[None]] = set()
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
        consumer.subscribe(self._topics, listener=_Rebalance(self))
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
                    self._count_error("fetch")
                    await self._isolate_unreadable()
                    await asyncio.sleep(1)
                    continue
                for tp, records in batches.items():
                    if records:
                        await self._transact_or_log(tp, records)
        finally:
            for task in self._retries:
                task.cancel()
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
        that one only: paused, the alert set, an error naming it and its committed offset, tried
        again every RetryTimes.stall_s. Nothing is lost: the record stays in Kafka, and the others
        are rewound to their committed offsets (the failed fetch may have consumed some)."""
        consumer = self._consumer
        assert consumer is not None
        async with self._lock:
            for tp in consumer.assignment() - consumer.paused():
                try:
                    await consumer.getmany(tp, timeout_ms=0)
                except Exception as exc:  # this partition holds the unreadable record
                    self._stall_unreadable(tp, exc)
                    continue
                if tp in self._next_offset:
                    consumer.seek(tp, self._next_offset[tp])

    def _stall_unreadable(self, tp: TopicPartition, error: Exception) -> None:
        assert self._consumer is not None
        offset = self._next_offset.get(tp)
        log.error(
            "%s/%d stalled: fetching the record at or after offset %s fails (%s); other "
            "partitions carry on, this one is tried again every %.0f s",
            tp.topic,
            tp.partition,
            offset,
            type(error).__name__,
            self._times.stall_s,
            extra={"input": record_position(tp.topic, tp.partition, offset or 0)},
        )
        if self._metrics is not None:
            self._metrics.stalled.labels(tp.topic, str(tp.partition)).set(1)
        self._unexpected[tp] = UNEXPECTED_STALL_AFTER  # a later commit says it flows again
        self._consumer.pause(tp)
        self._seen.pop(tp, None)
        self._recover_later(tp, self._times.stall_s)

    async def _transact_or_log(self, tp: TopicPartition, records: Batch) -> None:
        try:
            await self._transact(tp, records)
        except Exception:  # the last line of defence: the loop goes on, the batch is read again
            log.exception("unexpected failure on %s", tp, extra={"input": _range(records)})
            self._count_error("loop")
            # The fetched batch is gone: without a rewind the next commit would skip it.
            self._unexpected[tp] = self._unexpected.get(tp, 0) + 1
            stalled = self._unexpected[tp] >= UNEXPECTED_STALL_AFTER
            if stalled and self._metrics is not None:
                self._metrics.stalled.labels(tp.topic, str(tp.partition)).set(1)
            try:
                async with self._lock:
                    await self._recover(
                        tp, self._times.stall_s if stalled else self._times.unexpected_s
                    )
            except Exception:
                log.exception("recovering %s failed", tp)

    async def _transact(self, tp: TopicPartition, records: Batch) -> None:
        async with self._lock:
            producer, seen = self._producers.get(tp), self._seen.get(tp)
            if producer is None or seen is None:
                return  # revoked while we were fetching, or recovering: these are read again
            floor = self._next_offset.get(tp, 0)
            records = [r for r in records if r.offset >= floor]
            if not records:
                return
            if not self._may_proceed():  # went stale since the fetch: read these again later
                assert self._consumer is not None
                self._consumer.seek(tp, records[0].offset)
                return
            plan = self._failures.plan(tp, records[0].offset)
            narrowed = plan is not Plan.BATCH and len(records) > 1
            if narrowed:
                records = records[:1]  # narrow a failing batch down to the record at fault
            batch = seen.batch()
            event_times: list[datetime] = []
            try:
                state, now = self._state(), self._clock()
                partition_count = self._partition_count(tp.topic)
                await producer.begin_transaction()
                for record in records:
                    started = time.perf_counter()
                    try:
                        in_record = _in_record(record, partition_count)
                        outcome = self._outcome(tp, in_record, state, now, batch, plan)
                    except Exception as exc:  # our own work, not the Kafka client's
                        raise ProcessingFault(type(exc).__name__) from exc
                    self._observe(record, outcome, time.perf_counter() - started, event_times)
                    for out in outcome.records:
                        await producer.send(out.topic, out.value, key=out.key, headers=out.headers)
                await journal(producer, self._group, tp, batch)
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1}, self._group
                )
                committing = time.perf_counter()
                await producer.commit_transaction()
            except ProducerFenced:
                await self._fenced(tp)
                return
            except Exception as exc:  # any failure: abort, rewind, bounded retry
                await self._failed(tp, plan, records, exc)
                return
            batch.commit()
            self._next_offset[tp] = records[-1].offset + 1
            if narrowed:  # the rest of the fetched batch was dropped: fetch it again
                assert self._consumer is not None
                self._consumer.seek(tp, self._next_offset[tp])
            self.processed += len(records)
            had_stalled = self._failures.succeeded(tp, self._next_offset[tp])
            had_stalled |= self._unexpected.pop(tp, 0) >= UNEXPECTED_STALL_AFTER
            if had_stalled:
                log.warning("%s/%d flows again", tp.topic, tp.partition)
                if self._metrics is not None:
                    self._metrics.stalled.labels(tp.topic, str(tp.partition)).set(0)
            self._after_commit(tp, state, event_times, time.perf_counter() - committing, seen)

    def _partition_count(self, topic: str) -> int:
        """The topic's partitions as the consumer's metadata knows them (records must be on their
        key's partition). Unknown is the broker's fault, never the record's: the batch waits."""
        assert self._consumer is not None
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            raise UnknownTopicOrPartitionError(f"no metadata for {topic}")
        return len(partitions)

    def _outcome(
        self,
        tp: TopicPartition,
        in_record: InRecord,
        state: EnforcerState,
        now: datetime,
        batch: SeenInBatch,
        plan: Plan,
    ) -> Outcome:
        if plan is Plan.SET_ASIDE:
            cause = self._failures.last_error(tp)
            detail = f"{cause} each time its outputs were written; set aside"
            return quarantine(in_record, state, now, INTERNAL_ERROR, detail)
        try:
            outcome = self._process(in_record, state, now)
        except Exception as exc:  # process() never raises; a stand-in might
            log.exception("processing failed", extra={"input": _in_position(in_record)})
            detail = f"{type(exc).__name__} while processing the record"
            return quarantine(in_record, state, now, INTERNAL_ERROR, detail)
        if outcome.quarantine_reason is not None or outcome.event_id is None:
            return outcome
        earlier = batch.earlier_acceptance(
            outcome.producer or "", outcome.event_id, in_record.offset
        )
        if earlier is None:
            return outcome
        detail = (
            f"event {outcome.event_id} of {outcome.producer} was accepted before at "
            f"{record_position(in_record.topic, in_record.partition, earlier)}"
        )
        return quarantine(in_record, state, now, DUPLICATE_EVENT, detail, outcome.verified)

    def _observe(
        self,
        record: ConsumerRecord[bytes, bytes],
        outcome: Outcome,
        seconds: float,
        event_times: list[datetime],
    ) -> None:
        """Log and count one outcome. A failure here is counted, never allowed to stop the loop."""
        try:
            _log_outcome(record, outcome)
            if self._metrics is not None:
                self._metrics.record(outcome, seconds)
                if outcome.event_time is not None and outcome.decisions:
                    event_times.append(outcome.event_time)
        except Exception:  # see docstring
            log.exception(
                "logging or counting an outcome failed", extra={"input": _position(record)}
            )
            self._count_error("observe")

    def _after_commit(
        self,
        tp: TopicPartition,
        state: EnforcerState,
        event_times: list[datetime],
        commit_seconds: float,
        seen: SeenEvents,
    ) -> None:
        """Metrics of a committed transaction: a failure here must not look like a failed commit
        (that would rewind and process the committed batch again)."""
        metrics = self._metrics
        if metrics is None:
            return
        try:
            metrics.committed(event_times, commit_seconds, self._clock())
            metrics.policy_in_force(state.snapshot.hash)
            metrics.seen_events.labels(tp.topic, str(tp.partition)).set(len(seen))
            self._report_lag(tp, self._next_offset[tp])
        except Exception:  # see docstring
            log.exception("metrics after a commit on %s failed", tp)
            self._count_error("metrics")

    async def _fenced(self, tp: TopicPartition) -> None:
        """Another producer took this partition's transactional id: a new owner after a rebalance
        we have not seen yet, or the broker ending a transaction that ran too long. Before, the
        partition was left without a producer and never processed again, silently. Now it stalls
        with the alert and is set up afresh after RetryTimes.fenced_s, unless a rebalance revokes it
        meanwhile (then its new owner carries on; the delay keeps us from fencing it back)."""
        assert self._consumer is not None
        log.error(
            "%s/%d fenced: another producer took its transactional id; stalled, set up again in "
            "%.0f s unless a rebalance hands it to another enforcer",
            tp.topic,
            tp.partition,
            self._times.fenced_s,
        )
        self._count_error("fenced")
        if self._metrics is not None:
            self._metrics.stalled.labels(tp.topic, str(tp.partition)).set(1)
        self._unexpected[tp] = UNEXPECTED_STALL_AFTER  # the next commit says it flows again
        self._consumer.pause(tp)
        self._seen.pop(tp, None)
        await self._producers.stop(tp)
        self._recover_later(tp, self._times.fenced_s)

    async def _failed(
        self, tp: TopicPartition, plan: Plan, records: Batch, error: Exception
    ) -> None:
        """Abort (a fresh producer), rewind, and try again after a back-off, or stall."""
        first, last = records[0].offset, records[-1].offset
        verdict = self._failures.failed(tp, plan, first, last, error)
        where = _range(records)
        if verdict.stalled:
            log.error(
                "%s/%d stalled at offset %d: writing its outputs failed again (%s); "
                "other partitions carry on, this one is retried every %.0f s",
                tp.topic,
                tp.partition,
                records[0].offset,
                type(error).__name__,
                verdict.backoff_s,
                exc_info=error,
                extra={"input": where},
            )
        else:
            log.warning(
                "transaction on %s failed (%s); aborting and retrying from committed in %.1f s",
                tp,
                type(error).__name__,
                verdict.backoff_s,
                exc_info=error,
                # The batch's input range: no per-event bookkeeping on the hot path for this.
                extra={"input": where},
            )
        if self._metrics is not None:
            self._count_error("transaction")
            if verdict.stalled:
                self._metrics.stalled.labels(tp.topic, str(tp.partition)).set(1)
        await self._recover(tp, verdict.backoff_s)

    def _report_lag(self, tp: TopicPartition, position: int) -> None:
        assert self._consumer is not None
        assert self._metrics is not None
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            self._metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))

    async def _recover(self, tp: TopicPartition, backoff_s: float) -> None:
        """Abort at once, pause `tp`, and after `backoff_s` set it up afresh and resume it."""
        assert self._consumer is not None
        self._consumer.pause(tp)
        self._seen.pop(tp, None)  # not ready until set up again
        try:
            # A fresh producer aborts the open transaction now: left open, it would hold back
            # read_committed readers of every output partition it touched until it timed out.
            await self._producers.start(tp)
        except Exception:  # the set-up below tries again
            log.exception("restarting the producer of %s failed", tp)
            await self._producers.stop(tp)
        self._recover_later(tp, backoff_s)

    async def _resume_later(self, tp: TopicPartition, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        assert self._consumer is not None
        async with self._lock:
            if tp not in self._consumer.assignment():
                return  # revoked meanwhile: the new owner sets it up
            try:
                await self._set_up([tp])
            except Exception:  # e.g. the broker is still down: later again
                log.exception("setting up %s again failed; retrying in 5 s", tp)
                self._count_error("recover")
                self._recover_later(tp, 5.0)
                return
            self._consumer.resume(tp)

    def _recover_later(self, tp: TopicPartition, delay_s: float) -> None:
        task = asyncio.create_task(self._resume_later(tp, delay_s))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

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
                self._count_error("assign")
                assert self._consumer is not None
                for tp in partitions:
                    self._consumer.pause(tp)
                    self._recover_later(tp, 5.0)
        log.info("assigned %s", sorted(f"{tp.topic}/{tp.partition}" for tp in partitions))

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        """Rebalance: let go of the partitions taken from us (their producers, offsets, seen
        events and failure streaks), between transactions."""
        async with self._lock:
            for tp in partitions:
                await self._producers.stop(tp)
                self._next_offset.pop(tp, None)
                self._seen.pop(tp, None)
                self._failures.forget(tp)
                if self._metrics is not None:
                    self._metrics.stalled.labels(tp.topic, str(tp.partition)).set(0)
        log.info("revoked %s", sorted(f"{tp.topic}/{tp.partition}" for tp in partitions))

    def _ensure_journals(self, topics: Iterable[str]) -> None:
        if self._admin is None:
            self._admin = KafkaAdmin(self._connection)
        ensure_journals(self._admin, self._group, topics, self._seen_config)

    def _count_error(self, stage: str) -> None:
        if self._metrics is not None:
            self._metrics.loop_errors.labels(stage).inc()


def _log_outcome(record: ConsumerRecord[bytes, bytes], outcome: Outcome) -> None:
    if outcome.quarantine_reason is not None:
        log.warning(
            "event quarantined: %s",
            outcome.quarantine_reason,
            extra={
                "event_id": outcome.event_id,
                "reason": outcome.quarantine_reason,
                "detail": outcome.quarantine_detail,
                "input": _position(record),
            },
        )
    elif log.isEnabledFor(logging.DEBUG):
        for decision in outcome.decisions:
            log.debug(
                "%s %s for %s/%s",
                outcome.event_id,
                decision.outcome.value,
                decision.consumer,
                decision.purpose,
                extra={
                    "event_id": outcome.event_id,
                    "consumer": decision.consumer,
                    "purpose": decision.purpose,
                    "outcome": decision.outcome.value,
                    "reasons": [r.value for r in decision.reasons],
                },
            )


def _position(record: ConsumerRecord[bytes, bytes]) -> str:
    return record_position(record.topic, record.partition, record.offset)


def _range(records: Batch) -> str:
    return f"{_position(records[0])}-{records[-1].offset}"


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, enforcer: Enforcer) -> None:
        self._enforcer = enforcer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._enforcer.revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._enforcer.assigned(list(assigned))


def _in_record(record: ConsumerRecord[bytes, bytes], partition_count: int) -> InRecord:
    return InRecord(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        list(record.headers or ()),
        partition_count,
    )


def _in_position(record: InRecord) -> str:
    return record_position(record.topic, record.partition, record.offset)
