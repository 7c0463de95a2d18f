"""What the bus's state is and where it is read: the policy and subscriptions in force (from the
state topics or a policy directory). The enforcer obeys it; the operator prepares the broker for it
(broker_setup.py)."""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from bus.control import policy_store, subscriptions
from bus.control.policy_in_force import PolicyInForce, Withdrawn
from bus.control.refused_records import RefusedRecord
from bus.control.state_topics import check_state_topic
from bus.errors import ConfigError
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import POLICY_TOPIC, SUBSCRIPTIONS_TOPIC
from bus.policy.facts import Subscription
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import EMPTY_HASH, Snapshot, compile_snapshot, empty_snapshot


@dataclass(frozen=True)
class StateTopics:
    """Where the enforcer reads its state: the policy topic (`bus policy apply` writes it) and the
    subscriptions registry. The bus's own by default; a test passes topics of its own, so that it
    neither replaces the shared broker's policy nor unsubscribes its consumers (the operator's
    watch following them still syncs the broker's ACLs from them). Never a topic an agency can write
    (bus/control/state_topics.py)."""

    policy: str = POLICY_TOPIC
    subscriptions: str = SUBSCRIPTIONS_TOPIC

    def __post_init__(self) -> None:
        check_state_topic(self.policy)
        check_state_topic(self.subscriptions)
        if self.policy == self.subscriptions:
            raise ConfigError(
                f"the policy and the subscriptions need two topics, not {self.policy}"
            )


@dataclass(frozen=True)
class StateReading:
    """One reading of the state topics (or policy directory): the compiled policy in force, the
    subscriptions in force, and what was refused or withdrawn on the way."""

    snapshot: Snapshot  # the empty snapshot: no valid policy set is in force
    subscriptions: frozenset[Subscription]
    refused: tuple[RefusedRecord, ...] = ()  # skipped records of the state topics
    withdrawn: tuple[Withdrawn, ...] = ()  # policy sets newer than the one in force, withdrawn

    @property
    def has_policy(self) -> bool:
        """Whether a valid policy set is in force (the snapshot is not the empty one)."""
        return self.snapshot.hash != EMPTY_HASH

    def same_state(self, other: "StateReading") -> bool:
        """Whether `other` holds the same policy snapshot and subscriptions."""
        return (
            self.snapshot.hash == other.snapshot.hash and self.subscriptions == other.subscriptions
        )

    def limited_to(self, subscriptions: frozenset[Subscription]) -> "StateReading":
        """This reading with only those of its subscriptions that are also in `subscriptions`."""
        return replace(self, subscriptions=self.subscriptions & subscriptions)


class StateSource(Protocol):
    """Where the state watcher reads the state from."""

    async def read(self) -> StateReading:
        """The policy and subscriptions in force now."""
        ...


class BusStateSource:
    """The policy set `bus policy apply` published (or a policy directory) and the registry.

    Parameters:
        connection: the broker, as the enforcer or the operator (both may read the state).
        policy_dir: a policy directory to read instead of the policy topic; None in normal use.
    """

    def __init__(
        self,
        connection: KafkaConnection,
        policy_dir: Path | None,
        topics: StateTopics = StateTopics(),
    ) -> None:
        self._connection, self._policy_dir, self._topics = connection, policy_dir, topics

    async def read(self) -> StateReading:
        """The policy set in force (compiled; the empty snapshot if none) and the subscription
        registry, with the records either refused."""
        if self._policy_dir is not None:
            in_force = PolicyInForce(load_policy_set(self._policy_dir), None, ())
        else:
            in_force = await policy_store.read_in_force(self._connection, self._topics.policy)
        policy = in_force.policy
        snapshot = empty_snapshot() if policy is None else compile_snapshot(policy)
        registry = await subscriptions.read_in_force(self._connection, self._topics.subscriptions)
        return StateReading(
            snapshot,
            frozenset(registry.subscriptions),
            in_force.refused + registry.refused,
            in_force.withdrawn,
        )
