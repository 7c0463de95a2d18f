"""The interest markers an enforcer holds: those of the marker partitions the consumer group gave
it, which are exactly the ones its ingress partitions need (same partition count, same key).

Per marker partition, subject → expiry. Only the loop's thread reads and changes it; a partition
that is set up again is replaced as a whole from its topic (interest_reading.py), one taken away is
dropped, so the table never holds markers for people whose events another enforcer decides.
"""

import math
from typing import NamedTuple

from bus.kafka.topics import INTEREST_PREFIX, interest_topic, interest_topic_owner

Partition = tuple[str, int]


class MarkerChange(NamedTuple):
    """One marker record's effect: `subject`'s marker on partition `tp` now expires at `expires`
    (epoch seconds, infinity: never), or is gone (`expires` None)."""

    tp: Partition
    subject: str
    expires: float | None


class InterestMarkers:
    """Subject → expiry per marker partition, for `decide`'s `has_interest`.

    Parameters:
        prefix: the marker topics' prefix (the bus's; a test's own).
    """

    def __init__(self, prefix: str = INTEREST_PREFIX) -> None:
        self.prefix = prefix
        self._by_partition: dict[Partition, dict[str, float]] = {}

    def is_marker_topic(self, topic: str) -> bool:
        """Whether records of `topic` are interest markers (not events)."""
        return interest_topic_owner(topic, self.prefix) is not None

    def holds(self, consumer: str, purpose: str, partition: int, subject: str, at: float) -> bool:
        """Whether `consumer` holds a marker on `subject` for `purpose` at `at`. `partition` is
        that of the person's ingress record: the marker topic is partitioned alike."""
        markers = self._by_partition.get(
            (interest_topic(consumer, purpose, self.prefix), partition)
        )
        if markers is None:
            return False
        return at < markers.get(subject, -math.inf)

    def apply(self, change: MarkerChange) -> None:
        """A marker record read after its partition was set up."""
        markers = self._by_partition.setdefault(change.tp, {})
        if change.expires is None:
            markers.pop(change.subject, None)
        else:
            markers[change.subject] = change.expires

    def replace(self, tp: Partition, markers: dict[str, float]) -> None:
        """The markers of `tp` as its topic holds them up to where processing resumes."""
        self._by_partition[tp] = markers

    def drop(self, tp: Partition) -> None:
        """`tp` is no longer this enforcer's (or is set up again): forget its markers."""
        self._by_partition.pop(tp, None)

    def count(self) -> int:
        """Markers held, expired ones included until their partition is set up again."""
        return sum(len(m) for m in self._by_partition.values())
