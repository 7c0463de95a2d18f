"""The input partitions one enforcer owns, as the loop's thread sees them: which are set up (their
committed offset read and their seen-events memory rebuilt), which wait to be set up again after
a failure, and what the consumer group's rebalances change.

A partition is processed only while it is set up. A failure pauses it, drops its memory and
schedules it to be set up afresh: the committed offset and the journal, read back from Kafka, are
the truth after an aborted or ambiguous transaction. A rebalance happens inside `consume()`,
between transactions (the loop never consumes with a transaction open), so letting a partition
go never cuts one in half.
"""

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bus.enforcer.interest_markers import InterestMarkers
from bus.enforcer.interest_reading import read_markers
from bus.enforcer.observer import LoopObserver, Partition
from bus.enforcer.seen_events import SeenEvents
from bus.enforcer.seen_journal import SeenEventsConfig, rebuild
from bus.kafka.connection import KafkaConnection

log = logging.getLogger("bus.enforcer.service")
SET_UP_RETRY_S = 5.0  # a partition that could not be set up is tried again after this
_TIMEOUT_S = 30.0


def partition_of(tp: TopicPartition) -> Partition:
    """librdkafka's TopicPartition as the loop's (topic, number)."""
    return (tp.topic, tp.partition)


def topic_partition(tp: Partition, offset: int | None = None) -> TopicPartition:
    """The loop's (topic, number) as librdkafka's TopicPartition, with `offset` if given."""
    if offset is None:
        return TopicPartition(tp[0], tp[1])
    return TopicPartition(tp[0], tp[1], offset)


class OwnedPartitions:
    """Set-up state of the partitions assigned to one enforcer (see above).

    Parameters:
        connection: the broker and the enforcer's credentials (the journals are read with them).
        group: the consumer group, which names the journals.
        seen_config: how many ids each memory keeps and how far back.
        clock: the time the journal's age is judged against.
        ensure_journals: creates the journals of these ingress topics where missing.
        observer: the stall alert and error counts.
        forget: the loop's bookkeeping of a partition taken away (its failing streak).
        interest: the interest markers, rebuilt here for the marker partitions (None: the loop
            reads no marker topic).
    """

    def __init__(
        self,
        connection: KafkaConnection,
        group: str,
        seen_config: SeenEventsConfig,
        clock: Callable[[], datetime],
        ensure_journals: Callable[[set[str]], None],
        observer: LoopObserver,
        forget: Callable[[Partition], None],
        interest: InterestMarkers | None = None,
    ) -> None:
        self._connection = connection
        self._interest = interest
        self._group = group
        self._seen_config = seen_config
        self._clock = clock
        self._ensure_journals = ensure_journals
        self._observer = observer
        self._forget = forget
        self.seen: dict[Partition, SeenEvents] = {}  # the set-up partitions' memories
        # Next offset to process: records below it were committed, whatever the client hands out.
        self.next_offset: dict[Partition, int] = {}
        self.partition_counts: dict[str, int] = {}
        self._due: dict[Partition, float] = {}  # paused until set up again at this monotonic time
        self._assigned: set[Partition] = set()

    @property
    def assigned(self) -> set[Partition]:
        """The partitions the group gave this enforcer."""
        return set(self._assigned)

    def waiting(self, tp: Partition) -> bool:
        """Whether `tp` is paused until it is set up again."""
        return tp in self._due

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Rebalance: take the partitions now ours, paused, and leave their set-up (committed
        offset, journal) to the loop's next turn. No blocking call on the consumer may run inside
        this callback: confluent-kafka 2.16.1 then forgets the call state of the `consume()` that
        runs the callback, and the next callback of that call aborts the process
        (`CallState_get: Assertion 'cs != NULL'`, seen when a frozen worker thawed)."""
        owned = [partition_of(tp) for tp in partitions]
        self._assigned.update(owned)
        consumer.assign(partitions)
        self.set_up_later(consumer, owned, 0.0)
        log.info("assigned %s", sorted(f"{t}/{p}" for t, p in owned))

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Rebalance: let go of the partitions taken from us."""
        self._let_go(partitions)
        log.info("revoked %s", sorted(f"{tp.topic}/{tp.partition}" for tp in partitions))

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The group went on without us (we missed its session timeout: frozen, cut off): the
        partitions may have another owner already. Whatever we had open is refused (KIP-447)."""
        self._let_go(partitions)
        log.warning(
            "partitions lost: the group reassigned %s while this enforcer was unreachable",
            sorted(f"{tp.topic}/{tp.partition}" for tp in partitions),
        )

    def _let_go(self, partitions: list[TopicPartition]) -> None:
        gone = [partition_of(tp) for tp in partitions]
        for tp in gone:
            self._assigned.discard(tp)
            self.seen.pop(tp, None)
            self.next_offset.pop(tp, None)
            self._due.pop(tp, None)
            self._forget(tp)
            self._observer.stalled(tp, False)
            if self._interest is not None:
                self._interest.drop(tp)

    def set_up_later(
        self, consumer: Consumer, partitions: Iterable[Partition], delay_s: float
    ) -> None:
        """Pause `partitions` and drop their memories; set them up afresh after `delay_s`."""
        owned = [tp for tp in partitions if tp in self._assigned]
        if not owned:
            return
        consumer.pause([topic_partition(tp) for tp in owned])
        due = time.monotonic() + delay_s
        for tp in owned:
            self.seen.pop(tp, None)  # not processed until set up again
            self._due[tp] = due
            if self._interest is not None:
                self._interest.drop(tp)  # rebuilt from its topic when set up again

    def set_up_due(self, consumer: Consumer) -> None:
        """Set up again, rewind and resume the partitions whose wait is over; one that still
        cannot be set up waits SET_UP_RETRY_S more."""
        now = time.monotonic()
        ready = [tp for tp, due in self._due.items() if due <= now]
        if not ready:
            return
        try:
            starts = self._set_up(consumer, ready)
        except Exception:  # e.g. the broker is still down: later again
            log.exception("setting up %s again failed; retrying in %.0f s", ready, SET_UP_RETRY_S)
            self._observer.error("recover")
            self.set_up_later(consumer, ready, SET_UP_RETRY_S)
            return
        for tp in ready:
            del self._due[tp]
            try:
                consumer.seek(topic_partition(tp, starts[tp]))
                consumer.resume([topic_partition(tp)])
            except Exception:  # e.g. revoked meanwhile; if still ours, try again later
                log.exception("resuming %s/%d failed; retrying in %.0f s", *tp, SET_UP_RETRY_S)
                self.set_up_later(consumer, [tp], SET_UP_RETRY_S)

    def _set_up(self, consumer: Consumer, partitions: list[Partition]) -> dict[Partition, int]:
        """Read the committed offsets (stable: with read_committed, librdkafka waits out a pending
        transactional commit of the previous owner), then rebuild the memories from the journals,
        which those offsets cover. Returns where each partition starts."""
        topics = {topic for topic, _ in partitions}
        markers = {tp for tp in partitions if self.is_marker(tp[0])}
        events = [tp for tp in partitions if tp not in markers]
        # an ingress topic created after the start has none yet
        self._ensure_journals({topic for topic, _ in events})
        for topic in topics:
            metadata = consumer.list_topics(topic, _TIMEOUT_S).topics[topic]
            self.partition_counts[topic] = len(metadata.partitions)
        committed = consumer.committed([topic_partition(tp) for tp in partitions], _TIMEOUT_S)
        starts: dict[Partition, int] = {}
        for tp in committed:
            # Nothing committed yet: from the beginning, explicitly. auto.offset.reset only
            # applies to a fresh position; after a failed first batch that would skip records.
            starts[partition_of(tp)] = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        memories = rebuild(self._connection, self._group, events, self._seen_config, self._clock())
        if markers and self._interest is not None:
            ends = {m: max(starts[m], 0) for m in markers}
            read = read_markers(self._connection, self._group, ends, self.partition_counts)
            for marker_partition, held in read.items():
                self._interest.replace(marker_partition, held)
                # A marker partition keeps no event ids: an empty memory marks it as set up.
                memories[marker_partition] = SeenEvents(self._seen_config.capacity)
        for owned in partitions:
            self.next_offset[owned] = max(starts[owned], 0)
            self.seen[owned] = memories[owned]
        return starts

    def is_marker(self, topic: str) -> bool:
        """Whether `topic` is a marker topic (its partitions hold interest markers, not events)."""
        return self._interest is not None and self._interest.is_marker_topic(topic)
