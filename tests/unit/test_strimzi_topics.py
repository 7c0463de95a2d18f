"""The generated KafkaTopics are the topics the operator creates: the same names, partitions and
configuration as its own provisioning pass (KafkaBrokerSetup, recorded on an in-memory admin),
replicated three ways with min.insync.replicas=2, under names Kubernetes accepts."""

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import cast

from bus.control.broker_setup import KafkaBrokerSetup
from bus.control.retention import RetentionSettings
from bus.control.state_reading import StateReading, StateTopics
from bus.control.strimzi.names import CLUSTER_LABEL, is_resource_name, topic_resource_name
from bus.control.strimzi.state import every_grant
from bus.control.strimzi.topics import kafka_topics, topic_plan
from bus.control.topology import ensure_checkpoints_topic
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import AUDIT_CHECKPOINTS_TOPIC, INGRESS_PREFIX, delivery_topic
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from tests.support.policy_sets import REFERENCE

SNAPSHOT = compile_snapshot(REFERENCE)
SETTINGS = RetentionSettings(delivery=timedelta(days=10), quarantine=timedelta(days=20))


class RecordingAdmin:
    """What the operator's topology asks of a broker, remembered: each topic created, with its
    partitions and configuration (replication aside: the real admin adds it by broker count)."""

    def __init__(self) -> None:
        self.created: dict[str, tuple[int, dict[str, str]]] = {}

    def list_topics(self) -> set[str]:
        return set(self.created)

    def create_topics(
        self, names: Iterable[str], partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        for name in names:
            assert name not in self.created
            self.created[name] = (partitions, dict(config or {}))

    def ensure_topics(
        self, names: Iterable[str], partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> list[str]:
        missing = sorted(set(names) - self.list_topics())
        self.create_topics(missing, partitions, config)
        return missing

    def topic_configs(self, topics: Iterable[str]) -> dict[str, dict[str, str]]:
        return {t: dict(self.created[t][1]) for t in topics}

    def alter_topic_configs(self, changes: Mapping[str, Mapping[str, str]]) -> None:
        raise AssertionError(f"nothing existed before: no drift to alter, got {changes}")


def provisioned(subscriptions: frozenset[Subscription]) -> dict[str, tuple[int, dict[str, str]]]:
    """What `bus topics provision` creates on an empty cluster, and the indexer's witness topic."""
    admin = RecordingAdmin()
    setup = KafkaBrokerSetup(cast(KafkaAdmin, admin), SETTINGS)
    setup.provision_base_topics(StateTopics(), INGRESS_PREFIX)
    setup.ensure_topics(StateReading(SNAPSHOT, subscriptions))
    ensure_checkpoints_topic(cast(KafkaAdmin, admin), AUDIT_CHECKPOINTS_TOPIC)
    return admin.created


def test_plan_is_what_the_operator_creates() -> None:
    for subscriptions in (frozenset(), every_grant(SNAPSHOT)):
        assert topic_plan(SNAPSHOT, subscriptions, SETTINGS) == provisioned(subscriptions)


def test_every_topic_replicated_three_ways_with_two_in_sync() -> None:
    topics = kafka_topics(SNAPSHOT, every_grant(SNAPSHOT), SETTINGS, broker_count=3)
    plan = topic_plan(SNAPSHOT, every_grant(SNAPSHOT), SETTINGS)
    assert [t["spec"]["topicName"] for t in topics] == sorted(plan)
    for topic in topics:
        partitions, config = plan[topic["spec"]["topicName"]]
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["partitions"] == partitions
        assert topic["spec"]["config"] == {**config, "min.insync.replicas": "2"}


def test_one_broker_keeps_one_replica() -> None:
    topics = kafka_topics(SNAPSHOT, (), SETTINGS, broker_count=1)
    assert {t["spec"]["replicas"] for t in topics} == {1}
    assert {t["spec"]["config"]["min.insync.replicas"] for t in topics} == {"1"}


def test_resources_have_valid_distinct_names_and_the_cluster_label() -> None:
    topics = kafka_topics(SNAPSHOT, every_grant(SNAPSHOT), SETTINGS, cluster="prod")
    names = [t["metadata"]["name"] for t in topics]
    assert len(set(names)) == len(names)
    for topic in topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
        assert topic["kind"] == "KafkaTopic"
        assert is_resource_name(topic["metadata"]["name"])
        assert topic["metadata"]["labels"] == {CLUSTER_LABEL: "prod"}


def test_a_topic_name_kubernetes_refuses_is_rewritten_apart() -> None:
    upper = topic_resource_name("bus.ingress.population.AddressChanged")
    lower = topic_resource_name("bus.ingress.population.addresschanged")
    assert lower == "bus.ingress.population.addresschanged"  # valid already: kept
    assert upper.startswith("bus.ingress.population.addresschanged-")
    assert upper != lower
    assert is_resource_name(upper)
    assert is_resource_name(topic_resource_name("_Under_score_" * 30))


def test_delivery_retention_is_capped_by_the_purpose() -> None:
    subscription = next(iter(every_grant(SNAPSHOT)))
    days = SNAPSHOT.purposes[subscription.purpose].retention_days
    plan = topic_plan(SNAPSHOT, {subscription}, RetentionSettings(delivery=timedelta(days=4000)))
    _, config = plan[delivery_topic(subscription.consumer, subscription.purpose)]
    assert config["retention.ms"] == str(days * 86_400_000)
