"""What the state watcher reads and writes: the policy and subscriptions in force (from the bus or a
policy directory), and the broker's topics and ACLs that follow from them."""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from bus.control import policy_store, subscriptions
from bus.control.acls import AclChanges, desired_acls, sync_acls
from bus.control.policy_in_force import PolicyInForce, Withdrawn
from bus.control.refused_records import RefusedRecord
from bus.control.retention import RetentionRule, RetentionSettings
from bus.control.state_topics import check_state_topic
from bus.control.topology import ensure_bus_topics, ensure_source_offsets_topics
from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import POLICY_TOPIC, SUBSCRIPTIONS_TOPIC, delivery_topic
from bus.policy.facts import Subscription
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import EMPTY_HASH, Snapshot, compile_snapshot, empty_snapshot


@dataclass(frozen=True)
class StateTopics:
    """Where the enforcer reads its state: the policy topic (`bus policy apply` writes it) and the
    subscriptions registry. The bus's own by default; a test passes topics of its own, so that it
    neither replaces the shared broker's policy nor unsubscribes its consumers (its enforcer
    still syncs the broker's ACLs from them). Never a topic an agency can write
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


class BrokerSetup(Protocol):
    """What the state watcher prepares on the broker for a state (KafkaBrokerSetup says how)."""

    def ensure_topics(self, reading: StateReading) -> None:
        """Create the topics the reading needs."""
        ...

    def ready_subscriptions(self, reading: StateReading) -> frozenset[Subscription]:
        """The reading's subscriptions whose topics exist."""
        ...

    def sync_acls(self, reading: StateReading, at: float) -> AclChanges:
        """Make the broker's ACLs those the reading justifies at `at` (epoch seconds)."""
        ...


class BusStateSource:
    """The policy set `bus policy apply` published (or a policy directory) and the registry.

    Parameters:
        connection: the broker and the enforcer's credentials.
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


class KafkaBrokerSetup:
    """The state watcher's BrokerSetup on a Kafka cluster, through `admin`; the bus's topics kept
    to the `retention` bounds and the reading's purposes (bus/control/retention.py)."""

    def __init__(self, admin: KafkaAdmin, retention: RetentionSettings | None = None) -> None:
        self._admin, self._retention = admin, retention or RetentionSettings()
        self._rule = RetentionRule(self._retention)

    def ensure_topics(self, reading: StateReading) -> None:
        """Delivery, dead-letter, audit and quarantine topics, and producers' progress topics;
        their retention drift is altered (and logged)."""
        # The purposes' caps come from the last policy in force: a withdrawn policy (nothing in
        # force, the enforcer paused) must not lengthen retention back to the bare bounds.
        if reading.has_policy:
            self._rule = RetentionRule.of(reading.snapshot, self._retention)
        ensure_bus_topics(self._admin, reading.subscriptions, retention=self._rule)
        producers = {a for pairs in reading.snapshot.authorities.values() for a, _ in pairs}
        ensure_source_offsets_topics(self._admin, producers)

    def ready_subscriptions(self, reading: StateReading) -> frozenset[Subscription]:
        """Those of the reading's subscriptions whose delivery topic exists (all the enforcer
        writes to for them)."""
        topics = self._admin.list_topics()
        return frozenset(
            s for s in reading.subscriptions if delivery_topic(s.consumer, s.purpose) in topics
        )

    def sync_acls(self, reading: StateReading, at: float) -> AclChanges:
        """Every agency's ACLs as the reading justifies them at `at` (epoch seconds): a grant past
        its `valid_until` by then loses its consumer's READ."""
        return sync_acls(self._admin, desired_acls(reading.snapshot, reading.subscriptions, at))
