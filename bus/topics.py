"""Topic and group names: one place, so producers, the enforcer and ACL sync always agree."""

INGRESS_PREFIX = "bus.ingress."
DELIVERY_PREFIX = "bus.delivery."
QUARANTINE_TOPIC = "bus.quarantine"
AUDIT_TOPIC = "bus.audit"
SUBSCRIPTIONS_TOPIC = "bus.subscriptions"
POLICY_TOPIC = "bus.policy"


def ingress_topic(event_type: str) -> str:
    """Where producers publish events of `event_type`; only the bus reads it."""
    return f"{INGRESS_PREFIX}{event_type}"


def delivery_topic(consumer: str, purpose: str) -> str:
    """One topic per consumer × purpose, so data collected for one purpose never mixes with another."""
    return f"{DELIVERY_PREFIX}{consumer}.{purpose}"


def consumer_group_prefix(consumer: str) -> str:
    """A consumer agency may use any consumer group whose name starts with this."""
    return f"{consumer}."
