"""Records faust skipped at the head of a partition, read again by the watch itself.

faust-streaming 0.15.3 can lose the first record of a partition after an assignment. Its
recovery resumes the partitions before it seeks them back to the committed offset, so records
fetched from the old position arrive after the seek and move its read offset past the committed
one; the committed record, fetched again, is then dropped as already read, and the commit moves
past it (faust lets the head of a partition skip one offset, meant for a transaction marker).
Seen in tests/integration/test_watch.py's kill test: after a restart, partition 1 committed at
56, the first record handed to the agent was 57, and 56 was never observed, its alert lost.

So for each partition newly assigned, the watch compares the first offset it is handed with the
group's committed offset (the log's start when there is none) and reads what lies between
itself, read_committed: a transaction marker or aborted records yield nothing, a skipped record
is observed before the batch."""

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.kafka.connection import KafkaConnection

log = logging.getLogger("bus.watch")
READ_TIMEOUT_S = 30.0  # to read one gap; past it the batch fails and is read again on restart


@dataclass(frozen=True)
class ReadAgain:
    """A record read by the watch itself, shaped like the faust message it stands for."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp: float  # seconds, as faust gives it


class HeadGaps:
    """Finds and reads the records skipped before the first record of each newly assigned
    partition (see the module's docstring).

    Parameters:
        connection: the watch's own connection.
        group: the watch's consumer group (its app id), whose committed offsets are the heads.
    """

    def __init__(self, connection: KafkaConnection, group: str) -> None:
        self._connection, self._group = connection, group
        self._seen: set[TopicPartition] = set()

    def assigned(self, partitions: Iterable[Any]) -> None:
        """Partitions (re)assigned: their next first record is checked again."""
        self._seen.difference_update(TopicPartition(p.topic, p.partition) for p in partitions)

    async def missed(self, messages: Sequence[Any]) -> list[ReadAgain]:
        """The records before the first of `messages` on each partition not seen since its
        assignment, back to the committed offset; usually none."""
        firsts: dict[TopicPartition, int] = {}
        for message in messages:
            tp = TopicPartition(message.topic, message.partition)
            if tp not in self._seen and tp not in firsts:
                firsts[tp] = message.offset
        if not firsts:
            return []
        consumer = AIOKafkaConsumer(
            **self._connection.aiokafka_kwargs(),
            group_id=self._group,  # never joins: only to read the group's committed offsets
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            consumer.assign(list(firsts))
            found = await asyncio.wait_for(self._read_gaps(consumer, firsts), READ_TIMEOUT_S)
        finally:
            await consumer.stop()
        self._seen.update(firsts)
        if found:
            positions = [f"{r.topic}:{r.partition}:{r.offset}" for r in found]
            log.warning(
                "records skipped by faust at a partition's head, read again: %s",
                ", ".join(positions),
                extra={"records": positions},
            )
        return found

    async def _read_gaps(
        self, consumer: AIOKafkaConsumer, firsts: dict[TopicPartition, int]
    ) -> list[ReadAgain]:
        starts = await consumer.beginning_offsets(list(firsts))
        found: list[ReadAgain] = []
        for tp, first in firsts.items():
            committed = await consumer.committed(tp)
            start = starts[tp] if committed is None else committed
            if start < first:
                found += await _read_range(consumer, tp, start, first)
        return found


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
) -> list[ReadAgain]:
    """The committed records of `tp` from `start` up to, not including, `end` (which exists:
    faust handed it over, so fetching reaches it)."""
    consumer.seek(tp, start)
    found: list[ReadAgain] = []
    while await consumer.position(tp) < end:
        fetched = await consumer.getmany(tp, timeout_ms=500)
        found += [
            ReadAgain(r.topic, r.partition, r.offset, r.value, r.timestamp / 1000)
            for r in fetched.get(tp, [])
            if r.offset < end
        ]
    return found
