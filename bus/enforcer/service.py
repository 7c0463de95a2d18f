"""The enforcer's loop: consume ingress, process, and commit the outputs with the input offsets in
one Kafka transaction per fetched batch. Exactly once, or not at all.

The loop runs on librdkafka (confluent-kafka) in a thread of its own: one consumer and one
transactional producer per process, fenced through the consumer group's metadata (KIP-447, see
txn_producer.py). asyncio stays for what runs beside it (state watcher, metrics, health). Issue 15
measured the client's share: a raw transactional pass-through ran at 1,500–3,700 events/s on
aiokafka and 7,800–9,800 on librdkafka on this machine's two cores.

Nothing an agency sends can stop it: process() quarantines what it cannot handle; a transaction
that fails is aborted and its partitions set up afresh from what Kafka committed, then retried a
bounded number of times, one partition per transaction, so a failing partition holds up no other
(failures.py); metrics and logging after a commit never undo or repeat it (observer.py). A
republished (source, event id) is quarantined as DUPLICATE_EVENT (seen_events.py,
seen_journal.py).
"""

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, Message

from bus.enforcer.failures import (
    Failures,
    Plan,
    ProcessingFault,
    RetryTimes,
    error_name,
    kafka_error,
)
from bus.enforcer.input_records import Batch, batch_range, in_record, partition_of_message
from bus.enforcer.interest_markers import InterestMarkers
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.observer import LoopObserver, Partition, loop_log
from bus.enforcer.owned_partitions import OwnedPartitions, partition_of, topic_partition
from bus.enforcer.pipeline import EnforcerState, InRecord, process, quarantine
from bus.enforcer.record_outcome import Processor, outcome_of
from bus.enforcer.seen_events import SeenInBatch
from bus.enforcer.seen_journal import SeenEventsConfig, ensure_journals, journal
from bus.enforcer.txn_producer import TransactionalProducer
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import interest_topic

log = loop_log
UNDECODABLE = "MALFORMED"  # a record the client cannot decode (a header name that is not UTF-8)
SESSION_TIMEOUT_MS = 10_000
# How long one fetch waits to fill a batch. Under load a batch fills at once; at a trickle this
# bounds what an event waits for its batch (latency), at the price of more, smaller transactions.
FETCH_WAIT_S = 0.05
# Writes a batch's acceptances to its partition's journal, inside the open transaction.
JournalWriter = Callable[[TransactionalProducer, str, Partition, SeenInBatch], None]
_FENCED = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED})


def default_instance() -> str:
    """This host: with the worker's number, the stable part of its transactional id."""
    return socket.gethostname()


class Enforcer:
    """The enforcer's service: consumes the ingress topics and, per fetched batch, processes each
    record (verify, decide, disclose) and commits its deliveries, audit records, quarantine copies,
    journal entries and the input offsets in one Kafka transaction. `run_enforcer` (runtime.py)
    wires it to the state watcher; `processed` counts the records committed.

    Parameters:
        connection: the broker and the enforcer's credentials.
        topics: the ingress topics to consume.
        state: returns the state in force (policy snapshot, keys, subscriptions, pseudonyms);
            asked once per transaction, so a new state applies from the next one.
        group: the consumer group; it also prefixes the transactional id and names the
            seen-events journals.
        instance: this worker's name within the group, unique and stable across restarts (the
            transactional id is `<group>.tx.<instance>`: a restart fences its predecessor).
        batch_size: at most this many records per transaction.
        clock: the time decisions are made at (a grant's validity), of the metrics, and against
            which the seen-events journal's age is judged.
        processor: turns a record into outputs; `process` except where a benchmark measures the
            loop's own I/O or a test makes it fail.
        metrics: Prometheus metrics to update, if any.
        seen_events: how far back a republished (source, event id) is caught as DUPLICATE_EVENT.
        may_proceed: false while the state in force may not be relied on (stale, no policy):
            every partition is paused until it is true again.
        retry_times: how long a failing partition waits before it is tried again.
        write_journal: writes a batch's acceptances to the seen-events journal (seen_journal's
            `journal`); replaceable only so a test can make it fail and see the loop lose nothing.
        interest: the interest markers; given, the loop also reads every topic under its prefix
            (fenced: see `_behind_markers`) and the states it is handed must share this table.
    """

    def __init__(
        self,
        connection: KafkaConnection,
        topics: list[str],
        state: Callable[[], EnforcerState],
        *,
        group: str = "bus-enforcer",
        instance: str | None = None,
        batch_size: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        processor: Processor = process,
        metrics: EnforcerMetrics | None = None,
        seen_events: SeenEventsConfig | None = None,
        may_proceed: Callable[[], bool] = lambda: True,
        retry_times: RetryTimes | None = None,
        write_journal: JournalWriter = journal,
        interest: InterestMarkers | None = None,
    ) -> None:
        self._connection = connection
        self._interest = interest
        self._topics = topics
        self._state = state
        self._group = group
        self.transactional_id = f"{group}.tx.{instance or default_instance()}"
        self._batch_size = batch_size
        self._clock = clock
        self._process = processor  # swappable so a benchmark measures the bare I/O
        self._observer = LoopObserver(metrics, clock)
        self._may_proceed = may_proceed
        self._write_journal = write_journal
        self._failures = Failures(retry_times or RetryTimes())
        self._unexpected: dict[Partition, int] = {}
        self._admin: KafkaAdmin | None = None  # for the journals' topics, made when first needed
        self._journals: set[str] = set()
        self._seen_config = seen_events or SeenEventsConfig()
        self._owned = OwnedPartitions(
            connection,
            group,
            self._seen_config,
            clock,
            self._ensure_journals,
            self._observer,
            self._forget,
            interest,
        )
        self._producer: TransactionalProducer | None = None
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; then finish the open transaction (never half) and leave the group.
        The loop runs in a thread of its own; this coroutine waits for it."""
        halt = threading.Event()

        async def relay() -> None:
            await stop.wait()
            halt.set()

        relaying = asyncio.create_task(relay())
        worker = asyncio.create_task(asyncio.to_thread(self._run, halt))
        try:
            await asyncio.shield(worker)
        finally:
            halt.set()
            relaying.cancel()
            await asyncio.wait({worker})

    def _run(self, halt: threading.Event) -> None:
        self._ensure_journals(set(self._topics))
        self._producer = TransactionalProducer(self._connection, self.transactional_id)
        consumer = Consumer(
            {
                **self._connection.confluent_config(),
                "group.id": self._group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                # An enforcer that died hands its partitions on after 10 s, not librdkafka's 45:
                # its heartbeats come from librdkafka's own thread, so busy Python never misses one.
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                # Range, not (cooperative-)sticky: partition p of every topic goes to one member,
                # so the worker deciding a person's events holds the markers on that person.
                "partition.assignment.strategy": "range",
                # A marker topic created for a new grant is found within this (a regex pattern).
                "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
            }
        )
        patterns = [f"^{re.escape(self._interest.prefix)}.*"] if self._interest else []
        consumer.subscribe(
            self._topics + patterns,
            on_assign=self._owned.on_assign,
            on_revoke=self._owned.on_revoke,
            on_lost=self._owned.on_lost,
        )
        try:
            while not halt.is_set():
                try:
                    self._step(consumer, halt)
                except Exception:  # e.g. the client refusing a seek: the loop itself goes on
                    log.exception("the enforcer's loop failed; going on in 1 s")
                    self._observer.error("loop")
                    halt.wait(1)
        finally:
            consumer.close()  # between transactions: leaves the group at once
            self._producer.close()

    def _step(self, consumer: Consumer, halt: threading.Event) -> None:
        """One turn: set up what is due, then hold or fetch and process one batch."""
        self._owned.set_up_due(consumer)
        if not self._may_proceed():
            self._hold(consumer, halt)
            return
        messages = consumer.consume(self._batch_size, FETCH_WAIT_S)
        if messages:
            self._handle_or_recover(consumer, messages)

    def _hold(self, consumer: Consumer, halt: threading.Event) -> None:
        """While `may_proceed` is false nothing is processed: every partition is paused and its
        input waits in Kafka (nothing permitted, nothing lost). Polling goes on, so the consumer
        stays in its group; a record that still arrives is rewound to. Then the partitions paused
        here are resumed, but those waiting to be set up again."""
        log.error("consumption paused: the state in force is not current")
        held: set[Partition] = set()
        while not self._may_proceed() and not halt.is_set():
            unpaused = self._owned.assigned - held
            if unpaused:
                consumer.pause([topic_partition(tp) for tp in unpaused])
                held |= unpaused
            for tp, offset in _first_offsets(consumer.consume(self._batch_size, 0.5)).items():
                if tp in self._owned.assigned:
                    consumer.seek(topic_partition(tp, offset))
        resumed = [tp for tp in held & self._owned.assigned if not self._owned.waiting(tp)]
        consumer.resume([topic_partition(tp) for tp in resumed])
        log.warning("consumption resumed: the state in force is current again")

    def _handle_or_recover(self, consumer: Consumer, messages: list[Message]) -> None:
        batches: dict[Partition, Batch] = {}
        try:
            batches, undecodable = self._batches(messages)
            if not batches:
                return
            if not self._may_proceed():  # went stale since the fetch: read these again later
                for tp, records in batches.items():
                    consumer.seek(topic_partition(tp, records[0].offset))
                return
            # Markers first, in transactions of their own: the events are decided with them.
            markers = {tp: r for tp, r in batches.items() if self._owned.is_marker(tp[0])}
            self._transact_all(consumer, markers, undecodable)
            events = {tp: r for tp, r in batches.items() if tp not in markers}
            for tp in self._behind_markers(consumer, events):
                consumer.seek(topic_partition(tp, events.pop(tp)[0].offset))
            self._transact_all(consumer, events, undecodable)
        except Exception as exc:  # the last line of defence: the loop goes on
            self._unexpected_failure(consumer, batches, exc)

    def _transact_all(
        self,
        consumer: Consumer,
        batches: dict[Partition, Batch],
        undecodable: dict[tuple[Partition, int], str],
    ) -> None:
        """Healthy partitions share a transaction; a failing one goes alone until it commits."""
        together = {tp: r for tp, r in batches.items() if not self._failures.failing(tp)}
        if together:
            self._transact(consumer, together, undecodable)
        for tp, records in batches.items():
            if tp not in together:
                self._transact(consumer, {tp: records}, undecodable)

    def _behind_markers(
        self, consumer: Consumer, events: dict[Partition, Batch]
    ) -> list[Partition]:
        """The input partitions whose events must wait: a marker partition of the same number
        is not set up, or holds markers this enforcer has not applied. Its end offset is asked of
        the broker now, after the events were fetched, so a marker written before an event was
        written is applied before that event is decided (read your writes: add a marker, then
        publish, and the event is delivered; remove it, and the next one is not). Only where the
        policy in force has grants that require interest."""
        if self._interest is None or not events:
            return []
        needed = {
            interest_topic(c, p, self._interest.prefix)
            for c, p in self._state().snapshot.requires_interest
        }
        numbers = {number for _, number in events}
        markers = [tp for tp in self._owned.assigned if tp[0] in needed and tp[1] in numbers]
        if not markers:
            return []
        waiting = {tp[1] for tp in markers if tp not in self._owned.seen}
        ready = [topic_partition(tp) for tp in markers if tp in self._owned.seen]
        if ready:
            ends = consumer.offsets_for_times(
                [topic_partition((tp.topic, tp.partition), OFFSET_END) for tp in ready],
                FENCE_TIMEOUT_S,
            )
            # The client's position (past any commit marker) or, before anything was read since
            # the set-up, where processing resumes.
            applied = {partition_of(tp): tp.offset for tp in consumer.position(ready)}
            for end in ends:
                tp = partition_of(end)
                if max(applied.get(tp, -1), self._owned.next_offset.get(tp, 0)) < end.offset:
                    waiting.add(end.partition)
        return [tp for tp in events if tp[1] in waiting]

    def _batches(
        self, messages: list[Message]
    ) -> tuple[dict[Partition, Batch], dict[tuple[Partition, int], str]]:
        """The fetched records of set-up partitions not yet committed, by partition, and those
        the client could not decode with why."""
        batches: dict[Partition, Batch] = {}
        undecodable: dict[tuple[Partition, int], str] = {}
        owned = self._owned
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.error("fetching input failed: %s", error)
                    self._observer.error("fetch")
                continue
            tp = partition_of_message(message)
            if tp not in owned.seen or (message.offset() or 0) < owned.next_offset.get(tp, 0):
                continue  # not set up (recovering, revoked), or fetched before a rewind
            count = owned.partition_counts.get(tp[0], 0)
            try:
                record = in_record(message, count)
            except Exception as exc:  # e.g. a header name that is not UTF-8
                record = InRecord(
                    tp[0], tp[1], message.offset() or 0, message.key(), message.value(), [], count
                )
                undecodable[(tp, record.offset)] = _why_undecodable(exc)
            batches.setdefault(tp, []).append(record)
        return batches, undecodable

    def _transact(
        self,
        consumer: Consumer,
        batches: dict[Partition, Batch],
        undecodable: dict[tuple[Partition, int], str],
    ) -> None:
        """One transaction over `batches`: every record's outputs, the journals and the input
        offsets. A partition with a failing streak comes alone, planned by its streak."""
        producer = self._producer
        assert producer is not None
        plans: dict[Partition, Plan] = {}
        narrowed: set[Partition] = set()
        for tp, records in list(batches.items()):
            plans[tp] = plan = self._failures.plan(tp, records[0].offset)
            if plan is not Plan.BATCH and len(records) > 1:
                batches[tp] = records[:1]  # narrow a failing batch down to the record at fault
                narrowed.add(tp)
        seen = {tp: self._owned.seen[tp].batch() for tp in batches}
        event_times: list[datetime] = []
        try:
            state, now = self._state(), self._clock()
            producer.begin()
            for tp, records in batches.items():
                set_aside_after = (
                    self._failures.last_error(tp) if plans[tp] is Plan.SET_ASIDE else None
                )
                for record in records:
                    self._one(
                        record, state, now, seen[tp], set_aside_after, undecodable, event_times
                    )
                self._write_journal(producer, self._group, tp, seen[tp])
            offsets = [topic_partition(tp, r[-1].offset + 1) for tp, r in batches.items()]
            producer.send_offsets(offsets, consumer.consumer_group_metadata())
            committing = time.perf_counter()
            producer.commit()
        except Exception as exc:  # any failure: abort, set up afresh, bounded retry
            self._failed(consumer, batches, plans, exc)
            return
        self._observer.transaction_committed(state, event_times, time.perf_counter() - committing)
        for tp, records in batches.items():
            seen[tp].commit()
            next_offset = self._owned.next_offset[tp] = records[-1].offset + 1
            if tp in narrowed:  # the rest of the fetched batch was dropped: fetch it again
                consumer.seek(topic_partition(tp, next_offset))
            self.processed += len(records)
            self._succeeded(tp, next_offset)
            self._observer.partition_committed(
                tp, next_offset, _highwater(consumer, tp), len(self._owned.seen[tp])
            )

    def _one(
        self,
        record: InRecord,
        state: EnforcerState,
        now: datetime,
        seen: SeenInBatch,
        set_aside_after: str | None,
        undecodable: dict[tuple[Partition, int], str],
        event_times: list[datetime],
    ) -> None:
        """One record's outcome into the open transaction."""
        assert self._producer is not None
        started = time.perf_counter()
        # Almost always empty: no tuple is built for the lookup then.
        unreadable = (
            undecodable.get(((record.topic, record.partition), record.offset))
            if undecodable
            else None
        )
        try:
            if unreadable is not None:
                detail = f"the client cannot decode its headers ({unreadable}); copied without them"
                outcome = quarantine(record, state, now, UNDECODABLE, detail)
            else:
                outcome = outcome_of(record, state, now, seen, self._process, set_aside_after)
        except Exception as exc:  # our own work, not the Kafka client's
            raise ProcessingFault(type(exc).__name__) from exc
        self._observer.outcome(record, outcome, time.perf_counter() - started, event_times)
        for out in outcome.records:
            self._producer.produce(out.topic, out.value, out.key, out.headers)
        if outcome.interest is not None and self._interest is not None:
            # Undone if the transaction fails: the partition is then set up again from Kafka.
            self._interest.apply(outcome.interest)

    def _failed(
        self,
        consumer: Consumer,
        batches: dict[Partition, Batch],
        plans: dict[Partition, Plan],
        error: Exception,
    ) -> None:
        """A transaction over `batches` failed with `error`: abort it (or replace the producer),
        and set each partition up afresh after its back-off, or stall it."""
        assert self._producer is not None
        cause = kafka_error(error)
        fenced = cause is not None and cause.code() in _FENCED
        if fenced:
            log.error(
                "the producer was fenced: its epoch is outdated (another process uses "
                "transactional id %s, or the coordinator ended a transaction after a broker "
                "restart); a new producer takes over, the partitions in %.0f s",
                self.transactional_id,
                self._failures.times.fenced_s,
            )
            self._observer.error("fenced")
        try:
            self._producer.recover(error)
        except Exception:  # the broker may be away: the set-up below waits for it
            log.exception("aborting after a failed transaction failed")
        self._observer.error("transaction")
        for tp, records in batches.items():
            verdict = self._failures.failed(
                tp, plans[tp], records[0].offset, records[-1].offset, error
            )
            backoff = max(verdict.backoff_s, self._failures.times.fenced_s if fenced else 0)
            if fenced:
                self._stall(tp)
            if verdict.stalled:
                self._observer.stalled(tp, True)
                log.error(
                    "%s/%d stalled at offset %d: writing its outputs failed again (%s); "
                    "other partitions carry on, this one is retried every %.0f s",
                    tp[0],
                    tp[1],
                    records[0].offset,
                    error_name(error),
                    verdict.backoff_s,
                    exc_info=error,
                    extra={"input": batch_range(records)},
                )
            else:
                log.warning(
                    "transaction on %s/%d failed (%s); aborted, retrying from committed in %.1f s",
                    tp[0],
                    tp[1],
                    error_name(error),
                    backoff,
                    exc_info=error,
                    extra={"input": batch_range(records)},
                )
            self._owned.set_up_later(consumer, [tp], backoff)

    def _unexpected_failure(
        self, consumer: Consumer, batches: dict[Partition, Batch], error: Exception
    ) -> None:
        """The loop failed in a way it does not handle itself (a bug in it). The fetched records
        are gone: the partitions are set up afresh and read again; one that fails this way
        UNEXPECTED_STALL_AFTER times in a row stalls. A failure of this recovery is logged."""
        log.exception("unexpected failure in the loop", exc_info=error)
        self._observer.error("loop")
        times = self._failures.times
        try:
            if self._producer is not None:
                self._producer.recover(error)
            for tp in batches or self._owned.assigned:
                self._unexpected[tp] = self._unexpected.get(tp, 0) + 1
                stalled = self._unexpected[tp] >= UNEXPECTED_STALL_AFTER
                if stalled:
                    self._stall(tp)
                delay = times.stall_s if stalled else times.unexpected_s
                self._owned.set_up_later(consumer, [tp], delay)
        except Exception:
            log.exception("recovering from an unexpected failure failed")

    def _succeeded(self, tp: Partition, next_offset: int) -> None:
        """A transaction on `tp` committed: its failing streak ends, a stalled partition flows
        again (the alert is cleared)."""
        had_stalled = self._failures.succeeded(tp, next_offset)
        had_stalled |= self._unexpected.pop(tp, 0) >= UNEXPECTED_STALL_AFTER
        if had_stalled:
            log.warning("%s/%d flows again", tp[0], tp[1])
            self._observer.stalled(tp, False)

    def _stall(self, tp: Partition) -> None:
        """Raise `tp`'s stall alert; its next commit clears it."""
        self._observer.stalled(tp, True)
        self._unexpected[tp] = max(self._unexpected.get(tp, 0), UNEXPECTED_STALL_AFTER)

    def _forget(self, tp: Partition) -> None:
        self._failures.forget(tp)
        self._unexpected.pop(tp, None)

    def _ensure_journals(self, topics: Iterable[str]) -> None:
        missing = set(topics) - self._journals
        if not missing:
            return
        if self._admin is None:
            self._admin = KafkaAdmin(self._connection)
        ensure_journals(self._admin, self._group, missing, self._seen_config)
        self._journals |= missing


# How often the consumer's metadata is refreshed, so that a new marker topic is read (librdkafka's
# default, five minutes, would leave a new grant's markers unread that long: its events denied).
METADATA_REFRESH_MS = 30_000
# How long the end offsets of the marker partitions may take to arrive before a batch.
FENCE_TIMEOUT_S = 10.0
UNEXPECTED_STALL_AFTER = 3  # unexpected failures in a row before a partition counts as stalled


def _first_offsets(messages: list[Message]) -> dict[Partition, int]:
    first: dict[Partition, int] = {}
    for message in messages:
        if message.error() is None:
            first.setdefault(partition_of_message(message), message.offset() or 0)
    return first


def _why_undecodable(error: Exception) -> str:
    cause = error.__cause__ or error.__context__
    if isinstance(cause, UnicodeDecodeError):
        return "a header name is not UTF-8"
    return type(error).__name__


def _highwater(consumer: Consumer, tp: Partition) -> int | None:
    """The partition's high watermark as the last fetch saw it (no request to the broker)."""
    try:
        _, high = consumer.get_watermark_offsets(topic_partition(tp), cached=True)
    except KafkaException:
        return None
    return high if high >= 0 else None
