"""How many copies of each partition the bus keeps, from the number of brokers it finds.

Three or more brokers: three replicas, and a write counts once two have it (`acks=all` with
`min.insync.replicas=2`): one broker may fail, or be restarted, without losing an acknowledged
record or stopping writes. One broker (the lab): one replica, one in sync. Two brokers: two
replicas, one in sync (writes go on while one is down; a safe majority needs three).
"""

from dataclasses import dataclass

MIN_INSYNC_KEY = "min.insync.replicas"


@dataclass(frozen=True)
class Replication:
    """A topic's replication factor and the in-sync replicas a write needs."""

    factor: int
    min_insync: int

    def config(self) -> dict[str, str]:
        """The topic configuration that goes with it."""
        return {MIN_INSYNC_KEY: str(self.min_insync)}


def replication_for(broker_count: int) -> Replication:
    """The rule above, for a cluster of `broker_count` brokers."""
    if broker_count >= 3:
        return Replication(3, 2)
    if broker_count == 2:
        return Replication(2, 1)
    return Replication(1, 1)
