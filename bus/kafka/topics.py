"""Topic and group names: one place, so producers, the enforcer and ACL sync always agree."""

INGRESS_PREFIX = "bus.ingress."
DELIVERY_PREFIX = "bus.delivery."
QUARANTINE_TOPIC = "bus.quarantine"
AUDIT_TOPIC = "bus.audit"
CHECKPOINTS_SUFFIX = ".checkpoints"
AUDIT_CHECKPOINTS_TOPIC = AUDIT_TOPIC + CHECKPOINTS_SUFFIX
DEAD_LETTER_PREFIX = "bus.deadletter."
SOURCE_OFFSETS_PREFIX = "bus.source-offsets."
# A consumer agency's erasure records (bus/record/erasure_record.py): bus.erasures.<agency>.
ERASURES_PREFIX = "bus.erasures."
SUBSCRIPTIONS_TOPIC = "bus.subscriptions"
POLICY_TOPIC = "bus.policy"
# The oversight watch's alerts (bus watch): compacted, keyed by rule × subject × window.
ALERTS_TOPIC = "bus.alerts"
# Interest markers (need to know per person): bus.interest.<consumer>.<purpose>, keyed by subject.
INTEREST_PREFIX = "bus.interest."
# The enforcer's journals of accepted event ids: bus.seen-events.<group>.<ingress topic suffix>.
SEEN_EVENTS_PREFIX = "bus.seen-events."


def ingress_topic(event_type: str, prefix: str = INGRESS_PREFIX) -> str:
    """Where producers publish events of `event_type`; only the bus reads it. (`prefix`: another
    set of ingress topics than the bus's, e.g. a test's own.)"""
    return f"{prefix}{event_type}"


def delivery_topic(consumer: str, purpose: str) -> str:
    """One topic per consumer × purpose, so data collected for one purpose never mixes with another."""
    return f"{DELIVERY_PREFIX}{consumer}.{purpose}"


def interest_topic(consumer: str, purpose: str, prefix: str = INTEREST_PREFIX) -> str:
    """Where `consumer` registers its interest markers for `purpose`: compacted, keyed by the
    subject, partitioned like the ingress topics, so the enforcer worker that reads a person's
    events also holds the markers on them. Only `consumer` may write it."""
    return f"{prefix}{consumer}.{purpose}"


def interest_topic_owner(topic: str, prefix: str = INTEREST_PREFIX) -> tuple[str, str] | None:
    """The (consumer, purpose) whose markers `topic` holds; None for any other topic. Agency ids
    and purpose codes have no dots, so the name splits one way only."""
    if not topic.startswith(prefix):
        return None
    consumer, dot, purpose = topic.removeprefix(prefix).partition(".")
    if not consumer or not dot or not purpose or "." in purpose:
        return None
    return consumer, purpose


def consumer_group_prefix(consumer: str) -> str:
    """A consumer agency may use any consumer group whose name starts with this."""
    return f"{consumer}."


def dead_letter_topic(consumer: str) -> str:
    """Where a consumer's SDK parks deliveries it could not verify or handle, with the reason."""
    return f"{DEAD_LETTER_PREFIX}{consumer}"


def erasures_topic(consumer: str) -> str:
    """Where a consumer's SDK records the deliveries it erased when their retention ran out; only
    that consumer writes it, so the topic's name says who erased."""
    return f"{ERASURES_PREFIX}{consumer}"


def source_offsets_topic(producer: str) -> str:
    """A producer adapter's progress through its source (files, rows), written in the same Kafka
    transaction as the events, so a restart neither skips nor repeats a row."""
    return f"{SOURCE_OFFSETS_PREFIX}{producer}"


def transactional_id_prefix(agency: str) -> str:
    """An agency may use any transactional id starting with this."""
    return f"{agency}."


def checkpoints_topic(audit_topic: str = AUDIT_TOPIC) -> str:
    """The witness of an audit store filled from `audit_topic`: every checkpoint the indexer signs,
    append-only, written by the indexer alone (`bus.audit` → `bus.audit.checkpoints`)."""
    return f"{audit_topic}{CHECKPOINTS_SUFFIX}"
