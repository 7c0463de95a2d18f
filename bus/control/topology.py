"""The topics the bus needs, derived from the catalogue, and creating them as the bus admin."""

from collections.abc import Iterable, Mapping

from bus.catalog import CATALOG, Catalog
from bus.control.retention import (
    CHECKPOINTS_CONFIG,
    UNLIMITED_RETENTION,
    RetentionRule,
    TopicKind,
    reconcile,
)
from bus.control.state_topics import ensure_state_topic
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import (
    ALERTS_TOPIC,
    AUDIT_CHECKPOINTS_TOPIC,
    AUDIT_TOPIC,
    INGRESS_PREFIX,
    QUARANTINE_TOPIC,
    SUBSCRIPTIONS_TOPIC,
    dead_letter_topic,
    delivery_topic,
    erasures_topic,
    ingress_topic,
    interest_topic,
    source_offsets_topic,
)
from bus.kafka.writing import COMPACTED
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot

# Partitions bound the enforcer's parallelism; keyed by subject, so each person's order holds.
INGRESS_PARTITIONS = 6
# The audit topic is the indexer's source and `bus audit reconcile`'s witness: kept until deleted
# on purpose, never aged out by the broker's default retention (7 days) while an indexer is down.
AUDIT_TOPIC_CONFIG = UNLIMITED_RETENTION
# Nothing an agency sends is lost: every record the broker accepts on an ingress topic must fit,
# untouched, into quarantine with the enforcer's headers. The broker checks max.message.bytes on
# each batch as sent; with compression.type=uncompressed it checks it again after unpacking, so a
# small compressed batch cannot expand into a record larger than the limit.
INGRESS_MAX_MESSAGE_BYTES = 1024 * 1024
INGRESS_TOPIC_CONFIG = {
    "max.message.bytes": str(INGRESS_MAX_MESSAGE_BYTES),
    "compression.type": "uncompressed",
}
# The quarantine headers (reason, a detail of at most 500 characters, the input position) take
# under 3 KiB; the rest of the headroom is margin. The enforcer's producer may send this much.
QUARANTINE_MAX_MESSAGE_BYTES = INGRESS_MAX_MESSAGE_BYTES + 64 * 1024
QUARANTINE_TOPIC_CONFIG = {"max.message.bytes": str(QUARANTINE_MAX_MESSAGE_BYTES)}
# A consumer's erasure records are its evidence of storage limitation and name no person: kept
# like the audit topic, so a stopped indexer loses none of them.
ERASURES_TOPIC_CONFIG = UNLIMITED_RETENTION


def ingress_topics(catalog: Catalog = CATALOG, prefix: str = INGRESS_PREFIX) -> list[str]:
    """One ingress topic per event type of `catalog` (named with `prefix`)."""
    return [ingress_topic(t, prefix) for t in catalog.event_types()]


def ensure_configured_topics(
    admin: KafkaAdmin, wanted: Mapping[str, Mapping[str, str]], partitions: int
) -> list[str]:
    """Create the missing topics of `wanted` each with its configuration, and bring the existing
    ones to it (retention drift is logged); returns the names created."""
    return ensure_configured_groups(admin, [(wanted, partitions)])


def ensure_configured_groups(
    admin: KafkaAdmin, groups: Iterable[tuple[Mapping[str, Mapping[str, str]], int]]
) -> list[str]:
    """`ensure_configured_topics` for several groups (topics and their configuration, partitions)
    with one listing: every missing topic is created first, then the ones that existed are
    reconciled, so a refused config change never keeps a topic from being created (nor its
    subscriptions from being served). Returns the names created."""
    existing = admin.list_topics()
    created: list[str] = []
    drifting: dict[str, Mapping[str, str]] = {}
    for wanted, partitions in groups:
        by_config: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for topic, config in wanted.items():
            if topic in existing:
                drifting[topic] = config
            else:
                by_config.setdefault(tuple(sorted(config.items())), []).append(topic)
        for settings, topics in by_config.items():
            admin.create_topics(sorted(topics), partitions, dict(settings))
            created += topics
    reconcile(admin, drifting)
    return sorted(created)


def ensure_ingress_topics(
    admin: KafkaAdmin,
    catalog: Catalog = CATALOG,
    partitions: int = INGRESS_PARTITIONS,
    prefix: str = INGRESS_PREFIX,
    retention: RetentionRule | None = None,
) -> list[str]:
    """Create missing ingress topics, and size existing ones and keep their retention to
    `retention` (default: the bus-wide defaults); returns the names created."""
    ingress = (retention or RetentionRule()).for_kind(TopicKind.INGRESS, prefix)
    config = {**INGRESS_TOPIC_CONFIG, **ingress}
    return ensure_configured_topics(
        admin, {t: config for t in ingress_topics(catalog, prefix)}, partitions
    )


def ensure_bus_topics(
    admin: KafkaAdmin,
    subscriptions: Iterable[Subscription],
    partitions: int = INGRESS_PARTITIONS,
    retention: RetentionRule | None = None,
) -> list[str]:
    """Audit, quarantine, one delivery topic per consumer × purpose, and one dead-letter and one
    erasures topic per consumer, each kept to `retention` (default: the bus-wide defaults, no
    purpose known); returns the names created."""
    rule = retention or RetentionRule()
    subscriptions = list(subscriptions)
    quarantine = {**QUARANTINE_TOPIC_CONFIG, **rule.for_kind(TopicKind.QUARANTINE, "")}
    partitioned = {
        AUDIT_TOPIC: AUDIT_TOPIC_CONFIG,
        QUARANTINE_TOPIC: quarantine,
        **{delivery_topic(s.consumer, s.purpose): rule.delivery(s.purpose) for s in subscriptions},
    }
    one_partition = {
        **{dead_letter_topic(s.consumer): rule.dead_letter(s.consumer) for s in subscriptions},
        **{erasures_topic(s.consumer): ERASURES_TOPIC_CONFIG for s in subscriptions},
    }
    return ensure_configured_groups(admin, [(partitioned, partitions), (one_partition, 1)])


def ensure_interest_topics(
    admin: KafkaAdmin, snapshot: Snapshot, partitions: int = INGRESS_PARTITIONS
) -> list[str]:
    """One compacted marker topic per consumer × purpose whose grant requires interest, with the
    ingress topics' partition count (a person's markers sit on the partition of their events; a
    topic with another count holds markers the enforcer never finds: their events are denied).
    Kept until removed: a marker holds until its consumer removes it or it expires."""
    wanted = {interest_topic(c, p) for c, p in snapshot.requires_interest}
    return admin.ensure_topics(wanted, partitions=partitions, config=COMPACTED)


def ensure_source_offsets_topics(admin: KafkaAdmin, producers: Iterable[str]) -> list[str]:
    """One compacted progress topic per producer agency (one partition: one ordered history)."""
    return admin.ensure_topics(
        {source_offsets_topic(p) for p in producers},
        partitions=1,
        config=COMPACTED,
    )


def ensure_registry_topics(admin: KafkaAdmin, registry: str = SUBSCRIPTIONS_TOPIC) -> list[str]:
    """The compacted subscriptions registry `registry` (one partition: one ordered history), plus
    audit."""
    return ensure_state_topic(admin, registry, own=SUBSCRIPTIONS_TOPIC) + ensure_audit_topic(admin)


def ensure_audit_topic(
    admin: KafkaAdmin, topic: str = AUDIT_TOPIC, partitions: int = INGRESS_PARTITIONS
) -> list[str]:
    """Create the audit topic if missing, with unlimited retention (and give it back that
    retention if it was changed); returns [topic] if created."""
    return ensure_configured_topics(admin, {topic: AUDIT_TOPIC_CONFIG}, partitions)


def ensure_alerts_topic(admin: KafkaAdmin, topic: str = ALERTS_TOPIC) -> list[str]:
    """Create the oversight watch's alerts topic (compacted: an alert raised again replaces the
    earlier version of itself; one partition: one ordered history) if missing."""
    return admin.ensure_topics([topic], partitions=1, config=COMPACTED)


def ensure_checkpoints_topic(admin: KafkaAdmin, topic: str = AUDIT_CHECKPOINTS_TOPIC) -> list[str]:
    """Create the audit witness topic (the indexer's signed checkpoints: one partition, kept
    forever) if missing; returns [topic] if created."""
    return admin.ensure_topics([topic], partitions=1, config=CHECKPOINTS_CONFIG)
