"""The enforcer keeps up: how many ingress records its consumer group has yet to decide on."""

from bus.control.doctor.finding import Finding
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import INGRESS_PREFIX


def enforcer_lag(admin: KafkaAdmin, group: str) -> dict[str, int]:
    """Ingress topic → records not yet committed by `group` (a partition without a commit counts
    from offset 0: an upper bound where retention already dropped the oldest)."""
    committed = admin.committed_offsets(group)
    lag: dict[str, int] = {}
    for topic in sorted(t for t in admin.list_topics() if t.startswith(INGRESS_PREFIX)):
        ends = admin.end_offsets(topic, admin.partition_count(topic), committed_only=True)
        lag[topic] = sum(max(0, end - committed.get((topic, p), 0)) for p, end in ends.items())
    return lag


def check_lag(admin: KafkaAdmin, group: str, limit: int) -> list[Finding]:
    """A finding per ingress topic whose lag exceeds `limit` records."""
    return [
        Finding(
            "lag",
            f"the enforcer ({group}) is {behind} records behind on {topic} (limit {limit})",
            "check the enforcer's log and metrics; run more enforcer replicas",
        )
        for topic, behind in enforcer_lag(admin, group).items()
        if behind > limit
    ]
