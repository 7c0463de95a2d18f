"""One Strimzi `KafkaTopic` per topic the bus needs, as the operator's topology creates it.

The same topics, partitions and configuration as `bus topics provision` and `bus acl sync --watch`
(bus/control/topology.py, broker_setup.py): the state topics, ingress per event type of the
catalogue, audit and its checkpoints, the watch's alerts, quarantine, a delivery topic per
subscription, a dead-letter topic per subscriber and a progress topic per producer; each kept to
the retention rule and replicated as `replication_for(broker_count)` says. The enforcer's journals
of accepted event ids and the watch's changelogs are not among them: each creates and sizes its
own.
"""

from collections.abc import Iterable, Mapping

from bus.catalog import CATALOG, Catalog
from bus.control.retention import (
    CHECKPOINTS_CONFIG,
    RetentionRule,
    RetentionSettings,
    TopicKind,
)
from bus.control.strimzi.names import (
    API_VERSION,
    DEFAULT_CLUSTER,
    Manifest,
    metadata,
    topic_resource_name,
)
from bus.control.topology import (
    AUDIT_TOPIC_CONFIG,
    ERASURES_TOPIC_CONFIG,
    INGRESS_PARTITIONS,
    INGRESS_TOPIC_CONFIG,
    QUARANTINE_TOPIC_CONFIG,
    ingress_topics,
)
from bus.kafka.replication import replication_for
from bus.kafka.topics import (
    ALERTS_TOPIC,
    AUDIT_CHECKPOINTS_TOPIC,
    AUDIT_TOPIC,
    POLICY_TOPIC,
    QUARANTINE_TOPIC,
    SUBSCRIPTIONS_TOPIC,
    dead_letter_topic,
    delivery_topic,
    erasures_topic,
    interest_topic,
    source_offsets_topic,
)
from bus.kafka.writing import COMPACTED
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot

TopicPlan = dict[str, tuple[int, dict[str, str]]]  # topic -> partitions, configuration


def topic_plan(
    snapshot: Snapshot,
    subscriptions: Iterable[Subscription],
    retention: RetentionSettings,
    catalog: Catalog = CATALOG,
) -> TopicPlan:
    """Every topic the bus needs for `snapshot` and `subscriptions`, with its partitions and its
    configuration (replication aside)."""
    rule = RetentionRule.of(snapshot, retention)
    subscriptions = list(subscriptions)
    ingress = {**INGRESS_TOPIC_CONFIG, **rule.for_kind(TopicKind.INGRESS, "")}
    quarantine = {**QUARANTINE_TOPIC_CONFIG, **rule.for_kind(TopicKind.QUARANTINE, "")}
    plan: TopicPlan = {
        POLICY_TOPIC: (1, dict(COMPACTED)),
        SUBSCRIPTIONS_TOPIC: (1, dict(COMPACTED)),
        AUDIT_TOPIC: (INGRESS_PARTITIONS, dict(AUDIT_TOPIC_CONFIG)),
        AUDIT_CHECKPOINTS_TOPIC: (1, dict(CHECKPOINTS_CONFIG)),
        ALERTS_TOPIC: (1, dict(COMPACTED)),
        QUARANTINE_TOPIC: (INGRESS_PARTITIONS, quarantine),
    }
    plan |= {t: (INGRESS_PARTITIONS, dict(ingress)) for t in ingress_topics(catalog)}
    for s in subscriptions:
        plan[delivery_topic(s.consumer, s.purpose)] = (INGRESS_PARTITIONS, rule.delivery(s.purpose))
        plan[dead_letter_topic(s.consumer)] = (1, rule.dead_letter(s.consumer))
        plan[erasures_topic(s.consumer)] = (1, dict(ERASURES_TOPIC_CONFIG))
    producers = {agency for pairs in snapshot.authorities.values() for agency, _ in pairs}
    plan |= {source_offsets_topic(p): (1, dict(COMPACTED)) for p in producers}
    markers = {interest_topic(c, p) for c, p in snapshot.requires_interest}
    plan |= {t: (INGRESS_PARTITIONS, dict(COMPACTED)) for t in markers}
    return plan


def kafka_topics(
    snapshot: Snapshot,
    subscriptions: Iterable[Subscription],
    retention: RetentionSettings,
    broker_count: int = 3,
    cluster: str = DEFAULT_CLUSTER,
    catalog: Catalog = CATALOG,
) -> list[Manifest]:
    """A KafkaTopic per topic of `topic_plan`, for a cluster of `broker_count` brokers (three
    replicas and min.insync.replicas=2 from three on), sorted by topic name."""
    plan = topic_plan(snapshot, subscriptions, retention, catalog)
    replication = replication_for(broker_count)
    return [
        kafka_topic(
            topic,
            partitions,
            replication.factor,
            {**replication.config(), **config},
            cluster,
        )
        for topic, (partitions, config) in sorted(plan.items())
    ]


def kafka_topic(
    topic: str, partitions: int, replicas: int, config: Mapping[str, str], cluster: str
) -> Manifest:
    """The KafkaTopic of the Kafka topic `topic` (spec.topicName; metadata.name a valid
    Kubernetes name made from it)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaTopic",
        "metadata": metadata(topic_resource_name(topic), cluster),
        "spec": {
            "topicName": topic,
            "partitions": partitions,
            "replicas": replicas,
            "config": dict(sorted(config.items())),
        },
    }
