"""Topic names: one place, so producers, the enforcer and ACL sync always agree."""

INGRESS_PREFIX = "bus.ingress."


def ingress_topic(event_type: str) -> str:
    """Where producers publish events of `event_type`; only the bus reads it."""
    return f"{INGRESS_PREFIX}{event_type}"
