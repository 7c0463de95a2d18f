"""The consumer group's rebalances, handed to the enforcer: partitions taken from it are let go of
before those given to it are set up (aiokafka calls the listener in that order, between fetches)."""

from typing import Protocol

from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener


class PartitionOwner(Protocol):
    """What a rebalance needs of the enforcer."""

    async def assigned(self, partitions: list[TopicPartition]) -> None:
        """Set up the partitions now ours."""

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        """Let go of the partitions taken from us."""


class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """The consumer's rebalance listener: passes each change on to `owner`."""

    def __init__(self, owner: PartitionOwner) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Called by aiokafka before a rebalance."""
        await self._owner.revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Called by aiokafka after a rebalance."""
        await self._owner.assigned(list(assigned))
