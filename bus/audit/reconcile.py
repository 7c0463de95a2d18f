"""Reconcile the audit store with the audit topic, record by record.

`verify` proves the store consistent with itself and with its signed checkpoints. It cannot see
the newest records deleted together with the checkpoints after them, nor a store rewritten by
someone who also holds the audit key. The audit topic is a second witness, kept by another
system (the broker, its administrators, its ACLs): every committed record on it, up to where the
indexer has read, must be in the store exactly once, with the same bytes. Order is `verify`'s
concern; this compares content, by source position.

"Up to where the indexer has read" is not taken from the store alone: its positions table sits
outside every hash, so whoever deletes the newest records could lower it and pass them off as
not indexed yet. With the witness (bus/audit/witness.py) the boundary is the higher of the
store's position and the one the newest witnessed checkpoint signed, and a store position below
the signed one is itself reported.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from bus.audit.store.audit_store import AuditStore
from bus.audit.witness import Witness
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import read_to_end, topic_reader

SHOWN = 50  # discrepancies listed one by one; all are counted


class Mismatch(StrEnum):
    """The kinds of discrepancy between the store and the audit topic."""

    MISSING = "MISSING"  # on the topic, not in the store
    CHANGED = "CHANGED"  # in both, with different bytes
    EXTRA = "EXTRA"  # in the store, but not on the topic at that position (or stored twice)
    LOWERED = "LOWERED"  # the store's position is below what a witnessed checkpoint signed


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One discrepancy, at a source position (partition, offset) of the audit topic."""

    kind: Mismatch
    partition: int
    offset: int
    seq: int | None  # the stored record concerned, if there is one
    # Set when a stored record claims a source that is no partition of the audit topic.
    foreign_topic: str | None = None

    def describe(self, topic: str) -> str:
        """One sentence for people, naming the position on `topic` and the record."""
        where = f"{self.foreign_topic or topic}[{self.partition}]@{self.offset}"
        if self.foreign_topic is not None:
            return (
                f"record {self.seq} claims {where}, which is no partition of the audit topic "
                f"{topic}: nothing vouches for it"
            )
        if self.kind is Mismatch.MISSING:
            return f"{where} is on the topic but not in the store"
        if self.kind is Mismatch.CHANGED:
            return f"record {self.seq} ({where}) differs from the topic's record"
        if self.kind is Mismatch.LOWERED:
            return (
                f"the store's position on {topic}[{self.partition}] is below {self.offset}, which "
                f"the witnessed checkpoint at record {self.seq} covers: it was lowered"
            )
        return f"record {self.seq} claims {where}, not on the topic or matched by another record"


@dataclass
class ReconcileReport:
    """What `reconcile` found: how much it compared, the discrepancies counted by kind, and the
    first SHOWN of them."""

    topic: str
    compared: int = 0  # topic records checked against the store
    beyond_retention: int = 0  # stored, but gone from the topic (retention): not comparable
    not_indexed: int = 0  # records on the topic after the store's position: the indexer's backlog
    witnessed_seq: int | None = None  # the newest witnessed checkpoint the boundary came from
    counts: Counter[Mismatch] = field(default_factory=Counter)
    shown: list[Discrepancy] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        """Whether no discrepancy was found."""
        return not self.counts

    def add(self, discrepancy: Discrepancy) -> None:
        """Count `discrepancy`, and keep it if fewer than SHOWN are kept."""
        self.counts[discrepancy.kind] += 1
        if len(self.shown) < SHOWN:
            self.shown.append(discrepancy)


async def reconcile(
    connection: KafkaConnection, store: AuditStore, topic: str, witness: Witness | None = None
) -> ReconcileReport:
    """Compare every source partition of `topic`; `connection` needs READ on it only. `witness`:
    read before the store, so all it signed was committed before the store is read."""
    report = ReconcileReport(topic)
    stored_up_to = {p: offset for (t, p), offset in store.positions().items() if t == topic}
    newest = witness.newest if witness else None
    if newest is not None:
        report.witnessed_seq = newest.seq
        for signed_topic, partition, offset in newest.positions or ():
            if signed_topic == topic and stored_up_to.get(partition, 0) < offset:
                report.add(Discrepancy(Mismatch.LOWERED, partition, offset, newest.seq))
                stored_up_to[partition] = offset
    async with topic_reader(connection, topic) as (consumer, partitions):
        earliest = await consumer.beginning_offsets(partitions)
        for tp in partitions:  # one at a time, so findings come in partition and offset order
            stored = store.from_partition(topic, tp.partition)
            merge = _PartitionMerge(tp.partition, stored, earliest[tp], report)
            consumer.pause(*[other for other in partitions if other != tp])  # no wasted prefetch
            consumer.resume(tp)
            async for record in read_to_end(consumer, [tp]):
                if record.value is None:
                    continue  # a tombstone: the indexer stores nothing for it either
                if record.offset < stored_up_to.get(tp.partition, 0):
                    merge.topic_record(record.offset, record.value)
                else:
                    report.not_indexed += 1
            merge.finish()
    _foreign(store, {(topic, tp.partition) for tp in partitions}, report)
    return report


def _foreign(store: AuditStore, audited: set[tuple[str, int]], report: ReconcileReport) -> None:
    """Every stored record from anywhere but the audit topic's partitions is EXTRA: the store
    refuses such records, so one is there only if it was put there around the indexer."""
    for topic, partition in sorted(store.source_partitions() - audited):
        for seq, offset, _ in store.from_partition(topic, partition):
            report.add(Discrepancy(Mismatch.EXTRA, partition, offset, seq, topic))


class _PartitionMerge:
    """Walks one partition's topic records and stored records side by side, by offset."""

    def __init__(
        self,
        partition: int,
        stored: Iterator[tuple[int, int, bytes]],
        earliest: int,
        report: ReconcileReport,
    ) -> None:
        self._partition, self._stored, self._report = partition, stored, report
        self._next = next(stored, None)
        while self._next is not None and self._next[1] < earliest:
            report.beyond_retention += 1
            self._next = next(stored, None)

    def topic_record(self, offset: int, value: bytes) -> None:
        self._report.compared += 1
        while self._next is not None and self._next[1] < offset:
            self._extra()
        if self._next is None or self._next[1] != offset:
            self._report.add(Discrepancy(Mismatch.MISSING, self._partition, offset, None))
            return
        seq, _, record = self._next
        if record != value:
            self._report.add(Discrepancy(Mismatch.CHANGED, self._partition, offset, seq))
        self._next = next(self._stored, None)
        while self._next is not None and self._next[1] == offset:  # stored twice
            self._extra()

    def finish(self) -> None:
        while self._next is not None:
            self._extra()

    def _extra(self) -> None:
        if self._next is not None:
            seq, offset, _ = self._next
            self._report.add(Discrepancy(Mismatch.EXTRA, self._partition, offset, seq))
            self._next = next(self._stored, None)
