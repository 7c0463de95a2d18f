"""The enforcer's loop: consume ingress, process, and commit outputs with the input offsets in one
Kafka transaction per batch and partition. Exactly once, or not at all."""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError, ProducerFenced

from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.partition_producers import PartitionProducers
from bus.enforcer.pipeline import EnforcerState, InRecord, Outcome, process
from bus.kafka.connection import KafkaConnection
from bus.kafka.position import record_position

log = logging.getLogger(__name__)


class Enforcer:
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
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; then finish the open transaction (never half) and leave the group."""
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
                batches = await consumer.getmany(timeout_ms=500, max_records=self._batch_size)
                for tp, records in batches.items():
                    if records:
                        await self._transact(tp, records)
        finally:
            async with self._lock:
                await self._producers.stop_all()
            await consumer.stop()

    async def _transact(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        async with self._lock:
            producer = self._producers.get(tp)
            if producer is None:
                return  # revoked while we were fetching: the new owner processes these
            floor = self._next_offset.get(tp, 0)
            records = [r for r in records if r.offset >= floor]
            if not records:
                return
            state, now = self._state(), self._clock()
            metrics = self._metrics
            event_times: list[datetime] = []
            try:
                await producer.begin_transaction()
                for record in records:
                    started = time.perf_counter()
                    outcome = self._process(_in_record(record), state, now)
                    _log_outcome(record, outcome)
                    if metrics is not None:
                        metrics.record(outcome, time.perf_counter() - started)
                        if outcome.event_time is not None and outcome.decisions:
                            event_times.append(outcome.event_time)
                    for out in outcome.records:
                        await producer.send(out.topic, out.value, key=out.key, headers=out.headers)
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1}, self._group
                )
                committing = time.perf_counter()
                await producer.commit_transaction()
                if metrics is not None:
                    metrics.committed(event_times, time.perf_counter() - committing, self._clock())
                    metrics.policy_in_force(state.snapshot.hash)
                    self._report_lag(tp, records[-1].offset + 1)
                self._next_offset[tp] = records[-1].offset + 1
                self.processed += len(records)
            except ProducerFenced:
                # Another instance owns this partition now; we are the zombie. Let go of it.
                log.warning("fenced on %s: another enforcer took it over", tp)
                await self._producers.stop(tp)
            except KafkaError:
                log.exception(
                    "transaction on %s failed; aborting and retrying from committed",
                    tp,
                    # The batch's input range: no per-event bookkeeping on the hot path for this.
                    extra={"input": f"{_position(records[0])}-{records[-1].offset}"},
                )
                await self._recover(tp)

    def _report_lag(self, tp: TopicPartition, position: int) -> None:
        assert self._consumer is not None
        assert self._metrics is not None
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            self._metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))

    async def _recover(self, tp: TopicPartition) -> None:
        # After an ambiguous error the producer is not reused (a late EndTxn could hit a later
        # transaction); a fresh one aborts whatever is pending, then we rewind (KAFKA-17582).
        await self._producers.start(tp)
        await self._seek_to_committed(tp)

    async def _seek_to_committed(self, tp: TopicPartition) -> None:
        assert self._consumer is not None
        committed = await self._consumer.committed(tp)
        # Nothing committed yet: auto_offset_reset=earliest already starts at the beginning.
        self._next_offset[tp] = committed or 0
        if committed is not None:
            self._consumer.seek(tp, committed)

    async def assigned(self, partitions: list[TopicPartition]) -> None:
        # Producer first: its init_transactions fences the old owner and settles its pending
        # transaction, so the committed offset we read next is final.
        async with self._lock:
            for tp in partitions:
                await self._producers.start(tp)
                await self._seek_to_committed(tp)
        log.info("assigned %s", sorted(f"{tp.topic}/{tp.partition}" for tp in partitions))

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        async with self._lock:
            for tp in partitions:
                await self._producers.stop(tp)
                self._next_offset.pop(tp, None)
        log.info("revoked %s", sorted(f"{tp.topic}/{tp.partition}" for tp in partitions))


def _log_outcome(record: ConsumerRecord[bytes, bytes], outcome: Outcome) -> None:
    if outcome.quarantine_reason is not None:
        log.warning(
            "event quarantined: %s",
            outcome.quarantine_reason,
            extra={
                "event_id": outcome.event_id, "reason": outcome.quarantine_reason,
                "detail": outcome.quarantine_detail, "input": _position(record),
            },
        )  # fmt: skip
    elif log.isEnabledFor(logging.DEBUG):
        for decision in outcome.decisions:
            log.debug(
                "%s %s for %s/%s",
                outcome.event_id, decision.outcome.value, decision.consumer, decision.purpose,
                extra={
                    "event_id": outcome.event_id, "consumer": decision.consumer,
                    "purpose": decision.purpose, "outcome": decision.outcome.value,
                    "reasons": [r.value for r in decision.reasons],
                },
            )  # fmt: skip


def _position(record: ConsumerRecord[bytes, bytes]) -> str:
    return record_position(record.topic, record.partition, record.offset)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, enforcer: Enforcer) -> None:
        self._enforcer = enforcer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._enforcer.revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._enforcer.assigned(list(assigned))


def _in_record(record: ConsumerRecord[bytes, bytes]) -> InRecord:
    return InRecord(
        record.topic, record.partition, record.offset, record.key, record.value,
        list(record.headers or ()),
    )  # fmt: skip
