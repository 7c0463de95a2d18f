"""What a state needs on the broker, and who may prepare it.

The operator's `KafkaBrokerSetup` creates the bus's topics, keeps their retention to the rule and
syncs every agency's ACLs. The enforcer's `ReadOnlyBrokerSetup` changes nothing: it only tells
which topics are there, so that the enforcer waits for the state topics and serves a subscription
once the operator has created its delivery topic (least privilege: the process that parses
agencies' input holds no right to create topics or grant access).
"""

import logging
from collections.abc import Sequence
from typing import Protocol

from bus.control import policy_store
from bus.control.acls import AclChanges, desired_acls, sync_acls
from bus.control.retention import RetentionRule, RetentionSettings
from bus.control.state_reading import StateReading, StateTopics
from bus.control.topology import (
    ensure_alerts_topic,
    ensure_bus_topics,
    ensure_checkpoints_topic,
    ensure_ingress_topics,
    ensure_interest_topics,
    ensure_registry_topics,
    ensure_source_offsets_topics,
    ingress_topics,
)
from bus.errors import BrokerError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import AUDIT_TOPIC, QUARANTINE_TOPIC, delivery_topic
from bus.policy.facts import Subscription

log = logging.getLogger(__name__)

NO_ACL_CHANGES = AclChanges(frozenset(), frozenset())


class TopicsNotProvisionedError(BrokerError):
    """Topics a state needs do not exist yet, and this principal may not create them: the
    operator will (`bus acl sync --watch`, `bus topics provision`)."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)
        super().__init__(
            f"waiting for the operator to create {', '.join(self.topics)} "
            "(`bus acl sync --watch` or `bus topics provision`)"
        )


class BrokerSetup(Protocol):
    """What the state watcher prepares on the broker for a state (KafkaBrokerSetup says how)."""

    def ensure_topics(self, reading: StateReading) -> Sequence[str] | None:
        """Create the topics the reading needs (returns the names created, if it tells)."""
        ...

    def ready_subscriptions(self, reading: StateReading) -> frozenset[Subscription]:
        """The reading's subscriptions whose topics exist."""
        ...

    def sync_acls(self, reading: StateReading, at: float) -> AclChanges:
        """Make the broker's ACLs those the reading justifies at `at` (epoch seconds)."""
        ...


class EnforcerBrokerSetup(BrokerSetup, Protocol):
    """A BrokerSetup that also says, before the enforcer starts, which of the topics it reads are
    missing (after creating them, if it may)."""

    def missing_base_topics(self, topics: StateTopics, ingress_prefix: str) -> list[str]:
        """The state topics and ingress topics (named with `ingress_prefix`) that do not exist
        (once this setup created what it may); empty when the enforcer can start."""
        ...


def base_topics(topics: StateTopics, ingress_prefix: str) -> list[str]:
    """The topics an enforcer needs from its start: the two state topics and the ingress topics it
    reads, and the audit and quarantine topics it writes."""
    return [
        topics.policy,
        topics.subscriptions,
        *ingress_topics(prefix=ingress_prefix),
        AUDIT_TOPIC,
        QUARANTINE_TOPIC,
    ]


class KafkaBrokerSetup:
    """The operator's BrokerSetup on a Kafka cluster, through `admin` (the operator's principal);
    the bus's topics kept to the `retention` bounds and the reading's purposes
    (bus/control/retention.py)."""

    def __init__(self, admin: KafkaAdmin, retention: RetentionSettings | None = None) -> None:
        self._admin, self._retention = admin, retention or RetentionSettings()
        self._rule = RetentionRule(self._retention)

    def provision_base_topics(self, topics: StateTopics, ingress_prefix: str) -> list[str]:
        """The subscriptions registry, the policy topic, audit, quarantine and the ingress topics:
        created if missing (the bus's own state topics only; a test's must exist), their
        configuration reconciled. Returns the names created."""
        created = ensure_registry_topics(self._admin, topics.subscriptions)
        created += ensure_bus_topics(self._admin, (), retention=self._rule)
        if topics.policy not in self._admin.list_topics():
            policy_store.ensure_policy_topic(self._admin, topics.policy)
            created.append(topics.policy)
        created += ensure_ingress_topics(
            self._admin, prefix=ingress_prefix, retention=RetentionRule(self._retention)
        )
        # The audit indexer's witness (created if missing; kept forever, like the audit topic).
        created += ensure_checkpoints_topic(self._admin)
        # The oversight watch's alerts (bus watch writes them; the auditors' console reads them).
        created += ensure_alerts_topic(self._admin)
        return sorted(created)

    def missing_base_topics(self, topics: StateTopics, ingress_prefix: str) -> list[str]:
        """Create the base topics (provision_base_topics); none is missing afterwards."""
        created = self.provision_base_topics(topics, ingress_prefix)
        if created:
            log.info("topics created: %s", ", ".join(created))
        return []

    def ensure_topics(self, reading: StateReading) -> list[str]:
        """Delivery, dead-letter, audit and quarantine topics, consumers' interest marker topics
        and producers' progress topics;
        their retention drift is altered (and logged). Returns the names created."""
        # The purposes' caps come from the last policy in force: a withdrawn policy (nothing in
        # force, the enforcer paused) must not lengthen retention back to the bare bounds.
        if reading.has_policy:
            self._rule = RetentionRule.of(reading.snapshot, self._retention)
        created = ensure_bus_topics(self._admin, reading.subscriptions, retention=self._rule)
        created += ensure_interest_topics(self._admin, reading.snapshot)
        producers = {a for pairs in reading.snapshot.authorities.values() for a, _ in pairs}
        created += ensure_source_offsets_topics(self._admin, producers)
        return sorted(created)

    def ready_subscriptions(self, reading: StateReading) -> frozenset[Subscription]:
        """Those of the reading's subscriptions whose delivery topic exists."""
        return _ready(self._admin, reading)

    def sync_acls(self, reading: StateReading, at: float) -> AclChanges:
        """Every agency's ACLs as the reading justifies them at `at` (epoch seconds): a grant past
        its `valid_until` by then loses its consumer's READ."""
        return sync_acls(self._admin, desired_acls(reading.snapshot, reading.subscriptions, at))


class ReadOnlyBrokerSetup:
    """The enforcer's BrokerSetup: creates nothing, syncs nothing (the operator's `bus acl sync
    --watch` does both); only lists topics, which its principal may describe."""

    def __init__(self, admin: KafkaAdmin) -> None:
        self._admin = admin

    def missing_base_topics(self, topics: StateTopics, ingress_prefix: str) -> list[str]:
        """Those of the state and ingress topics that the enforcer's principal does not see."""
        existing = self._admin.list_topics()
        return sorted(set(base_topics(topics, ingress_prefix)) - existing)

    def ensure_topics(self, reading: StateReading) -> None:
        """Create nothing (the operator does); raises TopicsNotProvisionedError naming the delivery
        topics the reading's subscriptions need that do not exist yet, so that the state watcher
        holds those subscriptions back until they do."""
        existing = self._admin.list_topics()
        missing = {delivery_topic(s.consumer, s.purpose) for s in reading.subscriptions} - existing
        if missing:
            raise TopicsNotProvisionedError(sorted(missing))

    def ready_subscriptions(self, reading: StateReading) -> frozenset[Subscription]:
        """Those of the reading's subscriptions whose delivery topic exists already: the rest is
        held back until the operator creates it."""
        return _ready(self._admin, reading)

    def sync_acls(self, reading: StateReading, at: float) -> AclChanges:
        """Nothing: the operator syncs ACLs."""
        return NO_ACL_CHANGES


def _ready(admin: KafkaAdmin, reading: StateReading) -> frozenset[Subscription]:
    topics = admin.list_topics()
    return frozenset(
        s for s in reading.subscriptions if delivery_topic(s.consumer, s.purpose) in topics
    )
