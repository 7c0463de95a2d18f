"""The marker fence's decisions, against a stand-in for the loop's consumer and partitions (the
fence's own logic; tests/integration/test_interest_markers.py runs it on the real broker): events
wait while a marker partition that may hold markers on their people is not set up, not read to its
end, or belongs to a marker topic not assigned yet; never otherwise."""

from dataclasses import dataclass, field
from typing import Any, cast

from confluent_kafka import TopicPartition

from bus.enforcer.interest_markers import InterestMarkers
from bus.enforcer.marker_fence import MarkerFence
from bus.enforcer.owned_partitions import OwnedPartitions
from bus.enforcer.seen_events import SeenEvents
from bus.kafka.topics import interest_topic

INGRESS = "bus.ingress.population.AddressChanged"
MARKERS = interest_topic("benefits-de", "benefits")
NEEDED = [("benefits-de", "benefits")]


@dataclass
class Owned:
    """What the fence reads of OwnedPartitions."""

    assigned: set[tuple[str, int]]
    seen: dict[tuple[str, int], SeenEvents] = field(default_factory=dict)
    next_offset: dict[tuple[str, int], int] = field(default_factory=dict)
    partition_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Metadata:
    error: Any
    partitions: dict[int, Any]


@dataclass
class ClusterMetadata:
    topics: dict[str, Metadata]


@dataclass
class Consumer:
    """The three calls the fence makes: end offsets, positions, topic metadata."""

    ends: dict[tuple[str, int], int]
    positions: dict[tuple[str, int], int]
    existing: set[str] = field(default_factory=set)

    def offsets_for_times(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.ends[(tp.topic, tp.partition)])
            for tp in tps
        ]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self.positions.get((tp.topic, tp.partition), -1001)
            )
            for tp in tps
        ]

    def list_topics(self, topic: str, timeout: float) -> ClusterMetadata:
        found = topic in self.existing
        return ClusterMetadata(
            {topic: Metadata(None if found else "UNKNOWN", {0: 1} if found else {})}
        )


def fence(owned: Owned, consumer: "Consumer | None" = None) -> MarkerFence:
    # End offsets come from the fence's own client: here the same stand-in.
    return MarkerFence(cast(OwnedPartitions, owned), InterestMarkers(), lambda: cast(Any, consumer))


def set_up(count: int = 3) -> Owned:
    owned = Owned(
        assigned={(INGRESS, p) for p in range(count)} | {(MARKERS, p) for p in range(count)},
        partition_counts={INGRESS: count, MARKERS: count},
    )
    for p in range(count):
        owned.seen[(MARKERS, p)] = SeenEvents(10)
        owned.next_offset[(MARKERS, p)] = 5
    return owned


def waiting(
    owned: Owned, consumer: Consumer, events: list[tuple[str, int]]
) -> list[tuple[str, int]]:
    return fence(owned, consumer).waiting(cast(Any, consumer), events, NEEDED)


def test_events_go_when_their_markers_are_read_to_the_end() -> None:
    owned = set_up()
    consumer = Consumer(ends={(MARKERS, p): 5 for p in range(3)}, positions={})
    assert waiting(owned, consumer, [(INGRESS, 0), (INGRESS, 2)]) == []


def test_events_wait_for_a_marker_written_before_them_and_not_yet_applied() -> None:
    owned = set_up()
    consumer = Consumer(ends={(MARKERS, 0): 5, (MARKERS, 1): 6, (MARKERS, 2): 5}, positions={})
    # Only partition 1's people can be concerned: same partition counts.
    assert waiting(owned, consumer, [(INGRESS, 0), (INGRESS, 1)]) == [(INGRESS, 1)]
    consumer.positions[(MARKERS, 1)] = 6  # read (in this batch, applied first)
    assert waiting(owned, consumer, [(INGRESS, 1)]) == []


def test_events_wait_while_their_marker_partition_is_not_set_up() -> None:
    owned = set_up()
    del owned.seen[(MARKERS, 2)]
    consumer = Consumer(ends={(MARKERS, p): 5 for p in range(3)}, positions={})
    assert waiting(owned, consumer, [(INGRESS, 1), (INGRESS, 2)]) == [(INGRESS, 2)]


def test_a_marker_topic_sized_unlike_the_ingress_topic_concerns_every_event() -> None:
    owned = set_up()
    owned.partition_counts[MARKERS] = 4
    owned.assigned.add((MARKERS, 3))
    owned.seen[(MARKERS, 3)] = SeenEvents(10)
    consumer = Consumer(ends={(MARKERS, p): 5 for p in range(4)} | {(MARKERS, 3): 9}, positions={})
    assert waiting(owned, consumer, [(INGRESS, 0), (INGRESS, 1)]) == [(INGRESS, 0), (INGRESS, 1)]


def test_a_marker_topic_that_exists_but_is_not_assigned_yet_holds_every_event() -> None:
    owned = Owned(assigned={(INGRESS, 0)}, partition_counts={INGRESS: 3})
    consumer = Consumer(ends={}, positions={}, existing={MARKERS})
    assert waiting(owned, consumer, [(INGRESS, 0)]) == [(INGRESS, 0)]
    # No such topic: the consumer never registered a marker, nothing to wait for (denied).
    assert waiting(owned, Consumer(ends={}, positions={}), [(INGRESS, 0)]) == []


def test_nothing_waits_where_no_grant_requires_interest() -> None:
    owned = set_up()
    consumer = Consumer(ends={(MARKERS, p): 99 for p in range(3)}, positions={})
    assert fence(owned, consumer).waiting(cast(Any, consumer), [(INGRESS, 0)], []) == []
