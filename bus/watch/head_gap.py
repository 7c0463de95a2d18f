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

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from bus.kafka.connection import KafkaConnection
from bus.kafka.partition_range import range_reader, read_ranges

log = logging.getLogger("bus.watch")
_TIMEOUT_S = 30.0  # for the group's committed offsets


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
        self._seen: set[tuple[str, int]] = set()

    def assigned(self, partitions: Iterable[Any]) -> None:
        """Partitions (re)assigned: their next first record is checked again."""
        self._seen.difference_update((p.topic, p.partition) for p in partitions)

    async def missed(self, messages: Sequence[Any]) -> list[ReadAgain]:
        """The records before the first of `messages` on each partition not seen since its
        assignment, back to the committed offset; usually none. Raises BrokerError when the
        broker does not answer (the batch then fails, uncommitted)."""
        firsts: dict[tuple[str, int], int] = {}
        for message in messages:
            tp = (message.topic, message.partition)
            if tp not in self._seen and tp not in firsts:
                firsts[tp] = message.offset
        if not firsts:
            return []
        found = await asyncio.to_thread(self._read_gaps, firsts)
        self._seen.update(firsts)
        if found:
            positions = [f"{r.topic}:{r.partition}:{r.offset}" for r in found]
            log.warning(
                "records skipped by faust at a partition's head, read again: %s",
                ", ".join(positions),
                extra={"records": positions},
            )
        return found

    def _read_gaps(self, firsts: dict[tuple[str, int], int]) -> list[ReadAgain]:
        reader = range_reader(self._connection, self._group)  # never commits
        try:
            heads = reader.committed([TopicPartition(t, p) for t, p in firsts], _TIMEOUT_S)
            ranges = {
                (h.topic, h.partition): (
                    h.offset if h.offset >= 0 else OFFSET_BEGINNING,  # no commit: the log start
                    firsts[(h.topic, h.partition)],
                )
                for h in heads
            }
            return [
                ReadAgain(
                    m.topic() or "",
                    m.partition() or 0,
                    m.offset() or 0,
                    m.value(),
                    m.timestamp()[1] / 1000,
                )
                for m in read_ranges(reader, ranges)
            ]
        finally:
            reader.close()
