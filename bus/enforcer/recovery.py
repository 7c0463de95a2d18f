"""What the loop does with an input partition when something went wrong: pause it, so nothing is
processed past what was committed; abort its open transaction; and after a while set it up afresh
(producer, committed offset, seen events) and resume it. Other partitions carry on meanwhile.

Four paths lead here: a transaction that failed (retried a bounded number of times, then set
aside or stalled: see failures.py), a failure the loop did not handle itself (a bug in it: the
batch is read again), a fence (another producer took the partition's transactional id), and a
record the Kafka client cannot decode (and a partition that could not be set up on assignment
is tried again from here). A partition that keeps failing stalls: the alert gauge is
set, an error names it, and it is tried again every RetryTimes.stall_s until a commit clears it.
"""

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.enforcer.failures import Failures, Plan
from bus.enforcer.input_records import Batch, batch_range
from bus.enforcer.observer import LoopObserver, loop_log
from bus.enforcer.partition_producers import PartitionProducers
from bus.enforcer.seen_events import SeenEvents
from bus.kafka.position import record_position

UNEXPECTED_STALL_AFTER = 3  # unexpected failures in a row before the partition counts as stalled
SET_UP_RETRY_S = 5.0  # a partition that could not be set up is tried again after this


class Recovery:
    """Pauses, rewinds and sets up again the input partitions of one running loop.

    Parameters:
        consumer: the loop's consumer (pausing, resuming, its assignment).
        producers: the loop's transactional producers; a fresh one aborts the open transaction.
        lock: the loop's lock, held for a whole transaction and for setting a partition up.
        seen: the loop's seen-events memory per partition. A partition without one is not
            processed, so a paused partition's is dropped until it is set up again.
        failures: the failing streaks, which give each failed transaction its verdict.
        observer: error counts and the stall alert.
        set_up: sets partitions up afresh (producer, committed offset, seen events).
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producers: PartitionProducers,
        lock: asyncio.Lock,
        seen: dict[TopicPartition, SeenEvents],
        failures: Failures,
        observer: LoopObserver,
        set_up: Callable[[list[TopicPartition]], Awaitable[None]],
    ) -> None:
        self._consumer = consumer
        self._producers = producers
        self._lock = lock
        self._seen = seen
        self._failures = failures
        self._times = failures.times
        self._observer = observer
        self._set_up = set_up
        # Failures in a row that the loop did not handle itself (a bug in it).
        self._unexpected: dict[TopicPartition, int] = {}
        self._retries: set[asyncio.Task[None]] = set()

    async def failed(
        self, tp: TopicPartition, plan: Plan, records: Batch, error: Exception
    ) -> None:
        """A transaction over `records`, made as `plan`, failed with `error`: abort it (a fresh
        producer), rewind, and try again after a back-off, or stall."""
        first, last = records[0].offset, records[-1].offset
        verdict = self._failures.failed(tp, plan, first, last, error)
        where = batch_range(records)
        if verdict.stalled:
            loop_log.error(
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
            loop_log.warning(
                "transaction on %s failed (%s); aborting and retrying from committed in %.1f s",
                tp,
                type(error).__name__,
                verdict.backoff_s,
                exc_info=error,
                # The batch's input range: no per-event bookkeeping on the hot path for this.
                extra={"input": where},
            )
        self._observer.error("transaction")
        if verdict.stalled:
            self._observer.stalled(tp, True)
        await self._recover(tp, verdict.backoff_s)

    async def unexpected(self, tp: TopicPartition, records: Batch, error: Exception) -> None:
        """The loop failed on `records` with `error`, a failure it did not handle itself (the last
        line of defence). The fetched batch is gone: without a rewind the next commit would skip
        it, so the partition is rewound and read again. It stalls after UNEXPECTED_STALL_AFTER
        such failures in a row; a failure of this recovery is only logged."""
        loop_log.exception(
            "unexpected failure on %s", tp, exc_info=error, extra={"input": batch_range(records)}
        )
        self._observer.error("loop")
        self._unexpected[tp] = self._unexpected.get(tp, 0) + 1
        stalled = self._unexpected[tp] >= UNEXPECTED_STALL_AFTER
        if stalled:
            self._observer.stalled(tp, True)
        try:
            async with self._lock:
                await self._recover(
                    tp, self._times.stall_s if stalled else self._times.unexpected_s
                )
        except Exception:
            loop_log.exception("recovering %s failed", tp)

    async def fenced(self, tp: TopicPartition) -> None:
        """Another producer took this partition's transactional id: a new owner after a rebalance
        we have not seen yet, or the broker ending a transaction that ran too long. Before, the
        partition was left without a producer and never processed again, silently. Now it stalls
        with the alert and is set up afresh after RetryTimes.fenced_s, unless a rebalance revokes it
        meanwhile (then its new owner carries on; the delay keeps us from fencing it back)."""
        loop_log.error(
            "%s/%d fenced: another producer took its transactional id; stalled, set up again in "
            "%.0f s unless a rebalance hands it to another enforcer",
            tp.topic,
            tp.partition,
            self._times.fenced_s,
        )
        self._observer.error("fenced")
        self._stall(tp)
        await self._producers.stop(tp)
        self.set_up_later(tp, self._times.fenced_s)

    def unreadable(self, tp: TopicPartition, offset: int | None, error: Exception) -> None:
        """Fetching `tp` from `offset` (its next offset to process, if known) fails with `error`:
        a record the client cannot decode. The partition stalls and is tried again every
        RetryTimes.stall_s; the record stays in Kafka."""
        loop_log.error(
            "%s/%d stalled: fetching the record at or after offset %s fails (%s); other "
            "partitions carry on, this one is tried again every %.0f s",
            tp.topic,
            tp.partition,
            offset,
            type(error).__name__,
            self._times.stall_s,
            extra={"input": record_position(tp.topic, tp.partition, offset or 0)},
        )
        self._stall(tp)
        self.set_up_later(tp, self._times.stall_s)

    def succeeded(self, tp: TopicPartition, next_offset: int) -> None:
        """A transaction on `tp` committed up to `next_offset`: its failing streak ends, and a
        stalled partition flows again (the alert is cleared)."""
        had_stalled = self._failures.succeeded(tp, next_offset)
        had_stalled |= self._unexpected.pop(tp, 0) >= UNEXPECTED_STALL_AFTER
        if had_stalled:
            loop_log.warning("%s/%d flows again", tp.topic, tp.partition)
            self._observer.stalled(tp, False)

    def forget(self, tp: TopicPartition) -> None:
        """`tp` was revoked: its failing streak and its alert go with it."""
        self._failures.forget(tp)
        self._observer.stalled(tp, False)

    def set_up_later(self, tp: TopicPartition, delay_s: float, *, pause: bool = False) -> None:
        """After `delay_s`, set `tp` up afresh and resume it, unless it was revoked meanwhile;
        `pause`: pause it until then (one that could not be set up on assignment)."""
        if pause:
            self._consumer.pause(tp)
        task = asyncio.create_task(self._resume_later(tp, delay_s))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    def cancel(self) -> None:
        """The loop ends: no partition is set up again."""
        for task in self._retries:
            task.cancel()

    def _stall(self, tp: TopicPartition) -> None:
        """Pause `tp` with the alert; the next commit on it says it flows again."""
        self._observer.stalled(tp, True)
        self._unexpected[tp] = UNEXPECTED_STALL_AFTER
        self._consumer.pause(tp)
        self._seen.pop(tp, None)

    async def _recover(self, tp: TopicPartition, backoff_s: float) -> None:
        """Abort at once, pause `tp`, and after `backoff_s` set it up afresh and resume it."""
        self._consumer.pause(tp)
        self._seen.pop(tp, None)  # not ready until set up again
        try:
            # A fresh producer aborts the open transaction now: left open, it would hold back
            # read_committed readers of every output partition it touched until it timed out.
            await self._producers.start(tp)
        except Exception:  # the set-up below tries again
            loop_log.exception("restarting the producer of %s failed", tp)
            await self._producers.stop(tp)
        self.set_up_later(tp, backoff_s)

    async def _resume_later(self, tp: TopicPartition, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        async with self._lock:
            if tp not in self._consumer.assignment():
                return  # revoked meanwhile: the new owner sets it up
            try:
                await self._set_up([tp])
            except Exception:  # e.g. the broker is still down: later again
                loop_log.exception("setting up %s again failed; retrying in 5 s", tp)
                self._observer.error("recover")
                self.set_up_later(tp, SET_UP_RETRY_S)
                return
            self._consumer.resume(tp)
