"""Every topic of the bus, and Kafka's own offsets and transaction topics, keeps as many replicas
as the cluster's size asks (bus/kafka/replication.py), and none is under-replicated now."""

from bus.control.doctor.finding import Finding
from bus.kafka.admin import KafkaAdmin
from bus.kafka.replication import MIN_INSYNC_KEY, replication_for

CHECK = "replication"
_INTERNAL = ("__consumer_offsets", "__transaction_state")


def check_replication(admin: KafkaAdmin) -> list[Finding]:
    """A finding per topic whose replication factor or min.insync.replicas is below the rule,
    and per topic with partitions out of sync."""
    rule = replication_for(admin.broker_count())
    factors = {t: f for t, f in admin.replication_factors().items() if _governed(t)}
    findings = [
        Finding(
            CHECK,
            f"{topic} has {factor} replica(s), the rule {rule.factor}",
            "reassign its partitions (kafka-reassign-partitions) to more brokers",
        )
        for topic, factor in sorted(factors.items())
        if factor < rule.factor
    ]
    configs = admin.topic_configs(sorted(factors))
    for topic, config in sorted(configs.items()):
        insync = int(config.get(MIN_INSYNC_KEY) or "1")
        if insync < rule.min_insync:
            findings.append(
                Finding(
                    CHECK,
                    f"{topic} has {MIN_INSYNC_KEY}={insync}, the rule {rule.min_insync}",
                    f"set {MIN_INSYNC_KEY}={rule.min_insync} on it",
                )
            )
    for topic, partitions in sorted(admin.under_replicated().items()):
        if _governed(topic):
            findings.append(
                Finding(
                    CHECK,
                    f"{topic} partitions {partitions} are under-replicated",
                    "bring the missing broker back (bus kafka status)",
                )
            )
    return findings


def _governed(topic: str) -> bool:
    return topic.startswith("bus.") or topic in _INTERNAL
