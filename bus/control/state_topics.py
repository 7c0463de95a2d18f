"""The bus's state topics: the policy topic and the subscriptions registry, which only the bus's
operator writes and the enforcer obeys.

A state topic may be named (tests do, to leave the shared broker's state alone), but never one an
agency can write or the bus's data flows through: a policy read from an agency's own topic would
be that agency's policy, and policy sets are not signed. The bus creates only its own state
topics; another name must exist already, so a typo fails instead of starting from an empty policy
or registry (an offboarding that blocks too little, or an ACL sync that revokes every consumer).
"""

from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import (
    AUDIT_TOPIC,
    CHECKPOINTS_SUFFIX,
    DEAD_LETTER_PREFIX,
    DELIVERY_PREFIX,
    ERASURES_PREFIX,
    INGRESS_PREFIX,
    INTEREST_PREFIX,
    QUARANTINE_TOPIC,
    SOURCE_OFFSETS_PREFIX,
)
from bus.kafka.writing import COMPACTED
from bus.util.shown_values import shown

# Agencies write ingress, dead-letter, erasures, source-offset and interest marker topics;
# delivery, quarantine, audit and witness topics carry the bus's data.
_DATA_PREFIXES = (
    INGRESS_PREFIX,
    DELIVERY_PREFIX,
    DEAD_LETTER_PREFIX,
    ERASURES_PREFIX,
    SOURCE_OFFSETS_PREFIX,
    INTEREST_PREFIX,
)
_DATA_TOPICS = frozenset({AUDIT_TOPIC, QUARANTINE_TOPIC})


def check_state_topic(name: str) -> str:
    """`name` if it may hold the bus's policy or subscriptions; ConfigError if it is a topic
    agencies write or the bus's data flows through."""
    if name.startswith(_DATA_PREFIXES) or name in _DATA_TOPICS or name.endswith(CHECKPOINTS_SUFFIX):
        raise ConfigError(
            f"{shown(name)} cannot hold the bus's policy or subscriptions: agencies write it or "
            "the bus's data flows through it. Name a topic only the bus's operator writes "
            "(by default bus.policy and bus.subscriptions)"
        )
    return name


def ensure_state_topic(admin: KafkaAdmin, topic: str, own: str) -> list[str]:
    """Make sure the state topic `topic` exists: the bus's `own` one is created (compacted, one
    partition) if missing; any other must exist already (ConfigError if not). Returns [topic] if
    it was created."""
    check_state_topic(topic)
    if topic == own:
        return admin.ensure_topics([topic], partitions=1, config=COMPACTED)
    if topic not in admin.list_topics():
        raise ConfigError(
            f"the topic {shown(topic)} does not exist: the bus creates only its own {own}. "
            "Create it first, or leave the option out to use the bus's own"
        )
    return []
