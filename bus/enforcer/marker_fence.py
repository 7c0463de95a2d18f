"""Read your writes for interest markers: the events of an input partition wait while a marker
partition that may hold markers on their people is not set up, or holds markers this enforcer
has not applied yet.

The marker partitions' end offsets are asked of the broker after the events were fetched, so a
marker written before an event was written is applied before the event is decided: add a marker,
then publish, and the event is delivered; remove it, and the next one is not. It fails closed:
waiting events are neither released nor lost. Only where the policy in force has grants that
require interest; other policies pay nothing.
"""

import logging
import time
from collections.abc import Callable, Collection, Iterable

from confluent_kafka import OFFSET_END, Consumer

from bus.enforcer.interest_markers import InterestMarkers
from bus.enforcer.observer import Partition
from bus.enforcer.owned_partitions import OwnedPartitions, partition_of, topic_partition
from bus.kafka.topics import interest_topic

log = logging.getLogger("bus.enforcer.service")
# How long the end offsets of the marker partitions may take to arrive before a batch.
FENCE_TIMEOUT_S = 10.0
# Events waiting for markers are logged at most this often.
WARNING_INTERVAL_S = 30.0
# Whether a marker topic exists is asked again after this (the subscription's metadata refresh
# assigns a new one within bus.enforcer.service.METADATA_REFRESH_MS).
EXISTENCE_TTL_S = 2.0


class MarkerFence:
    """Which fetched input partitions must wait for their markers (see above).

    End offsets are asked through a client of its own: on the loop's consumer the request would
    queue behind a fetch waiting for data (up to fetch.wait.max.ms), ~200 ms a batch, measured.
    """

    def __init__(
        self,
        owned: OwnedPartitions,
        interest: InterestMarkers,
        new_client: Callable[[], Consumer],
    ) -> None:
        self._owned, self._interest = owned, interest
        self._new_client = new_client
        self._client: Consumer | None = None
        self._existence: dict[str, tuple[bool, float]] = {}  # topic -> (exists, checked at)
        self._next_warning = 0.0

    def waiting(
        self,
        consumer: Consumer,
        events: Collection[Partition],
        requires_interest: Iterable[tuple[str, str]],
    ) -> list[Partition]:
        """Those of `events` (input partitions with fetched records) that must wait."""
        needed = {interest_topic(c, p, self._interest.prefix) for c, p in requires_interest}
        if not needed or not events:
            return []
        owned, counts = self._owned, self._owned.partition_counts
        # A needed marker topic that exists but is not assigned yet: the subscription has not
        # seen it (metadata refresh). Any of its markers may concern any event: all wait.
        unassigned = [t for t in needed if not any(tp[0] == t for tp in owned.assigned)]
        if any(self._exists(consumer, t) for t in unassigned):
            return self._warned(list(events), "a marker topic not read yet")

        def concerns(marker: Partition, event: Partition) -> bool:
            # Equal partition counts: a person's markers sit on their events' partition number.
            same = counts.get(marker[0]) == counts.get(event[0])
            return marker[1] == event[1] if same else True

        markers = [
            m for m in owned.assigned if m[0] in needed and any(concerns(m, e) for e in events)
        ]
        behind = {m for m in markers if m not in owned.seen}  # not set up
        ready = [m for m in markers if m not in behind]
        if ready:
            if self._client is None:
                self._client = self._new_client()
            ends = self._client.offsets_for_times(
                [topic_partition(m, OFFSET_END) for m in ready], FENCE_TIMEOUT_S
            )
            # The client's position (past any commit marker) or, before anything was read since
            # the set-up, where processing resumes.
            positions = consumer.position([topic_partition(m) for m in ready])
            applied = {partition_of(tp): tp.offset for tp in positions}
            for end in ends:
                m = partition_of(end)
                if max(applied.get(m, -1), owned.next_offset.get(m, 0)) < end.offset:
                    behind.add(m)
        waiting = [e for e in events if any(concerns(m, e) for m in behind)]
        return self._warned(waiting, f"marker partitions {sorted(f'{t}/{p}' for t, p in behind)}")

    def close(self) -> None:
        """Close the client of its own, if one was made."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _exists(self, consumer: Consumer, topic: str) -> bool:
        known = self._existence.get(topic)
        if known is not None and time.monotonic() - known[1] < EXISTENCE_TTL_S:
            return known[0]
        metadata = consumer.list_topics(topic, FENCE_TIMEOUT_S).topics.get(topic)
        exists = metadata is not None and metadata.error is None and bool(metadata.partitions)
        self._existence[topic] = (exists, time.monotonic())
        return exists

    def _warned(self, waiting: list[Partition], what: str) -> list[Partition]:
        if waiting and time.monotonic() >= self._next_warning:
            self._next_warning = time.monotonic() + WARNING_INTERVAL_S
            log.warning(
                "events of %s wait for interest markers (%s): not set up yet or not read to "
                "their end; nothing is released or lost meanwhile",
                sorted(f"{t}/{p}" for t, p in waiting),
                what,
            )
        return waiting
