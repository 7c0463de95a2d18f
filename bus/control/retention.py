"""How long each of the bus's topics keeps data (storage limitation), in one rule table, and the
reconciliation that brings existing topics to it.

- bus.delivery.<consumer>.<purpose>: BUS_RETENTION_DELIVERY_DAYS, at most the purpose's days;
- bus.deadletter.<consumer>: BUS_RETENTION_DEAD_LETTER_DAYS, at most the shortest retention_days
  of the purposes the consumer holds grants for;
- bus.ingress.<event type>: BUS_RETENTION_INGRESS_DAYS;
- bus.quarantine: BUS_RETENTION_QUARANTINE_DAYS;
- bus.audit and bus.audit.checkpoints: everything (retention.ms = retention.bytes = -1).

State topics (policy, subscriptions, source offsets) are compacted histories and the enforcer's
seen-events journals keep the duplicate horizon (bus/enforcer/seen_journal.py): not governed here.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Annotated

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus.errors import ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import (
    AUDIT_CHECKPOINTS_TOPIC,
    AUDIT_TOPIC,
    DEAD_LETTER_PREFIX,
    DELIVERY_PREFIX,
    INGRESS_PREFIX,
    QUARANTINE_TOPIC,
)
from bus.policy.snapshot import Snapshot
from bus.util.environment_errors import variable_problems

log = logging.getLogger(__name__)

# Kept until deleted on purpose: the audit topic is the indexer's source and `bus audit
# reconcile`'s witness; the checkpoints topic is the store's witness (never compacted either).
UNLIMITED_RETENTION = {"retention.ms": "-1", "retention.bytes": "-1"}
CHECKPOINTS_CONFIG = {**UNLIMITED_RETENTION, "cleanup.policy": "delete"}
# The broker deletes whole closed segments only, and rolls one after segment.ms (7 days by
# default): without a shorter roll, data would outlive its retention by up to a week.
MAX_SEGMENT = timedelta(days=1)
_MAX_DAYS = 3650  # the longest purpose retention of the reference set

Days = Annotated[float, Field(gt=0, le=_MAX_DAYS)]


class TopicKind(Enum):
    """The bus's topics as the retention rule tells them apart."""

    INGRESS = "ingress"
    DELIVERY = "delivery"
    DEAD_LETTER = "dead letter"
    QUARANTINE = "quarantine"
    AUDIT = "audit"
    CHECKPOINTS = "audit checkpoints"


@dataclass(frozen=True)
class RetentionSettings:
    """The bus-wide bounds (BUS_RETENTION_* variables; load_retention_settings reads them).

    Parameters:
        delivery: a delivery topic is a transport buffer, not the consumer's store: 14 days
            outlast a consumer's outage over two weekends; the purpose's retention_days cap it.
        ingress: only needs to outlast an enforcer outage; 7 days (Kafka's own default) cover a
            long weekend and the time to fix it.
        quarantine: refused input an operator must notice, inspect and take up with the sender;
            it may hold personal data of unproven origin, so no longer than 30 days.
        dead_letter: deliveries a consumer's SDK could not handle, for its operator to inspect
            and replay; 30 days, capped like deliveries by the consumer's purposes.
    """

    delivery: timedelta = timedelta(days=14)
    ingress: timedelta = timedelta(days=7)
    quarantine: timedelta = timedelta(days=30)
    dead_letter: timedelta = timedelta(days=30)


class _RetentionVariables(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUS_RETENTION_", frozen=True, extra="ignore")

    delivery_days: Days = RetentionSettings.delivery.days
    ingress_days: Days = RetentionSettings.ingress.days
    quarantine_days: Days = RetentionSettings.quarantine.days
    dead_letter_days: Days = RetentionSettings.dead_letter.days


def load_retention_settings() -> RetentionSettings:
    """The bounds from BUS_RETENTION_{DELIVERY,INGRESS,QUARANTINE,DEAD_LETTER}_DAYS (days, more
    than 0 and at most 3650; fractions allowed); an invalid value raises ConfigError naming it."""
    try:
        found = _RetentionVariables()
    except ValidationError as exc:
        problems = variable_problems(exc, "BUS_RETENTION_")
        raise ConfigError(
            f"invalid retention setting: {problems}. Expected a number of days, more than 0 and "
            f"at most {_MAX_DAYS}."
        ) from None
    return RetentionSettings(
        delivery=timedelta(days=found.delivery_days),
        ingress=timedelta(days=found.ingress_days),
        quarantine=timedelta(days=found.quarantine_days),
        dead_letter=timedelta(days=found.dead_letter_days),
    )


def kind_of(topic: str) -> TopicKind | None:
    """Which of the bus's topics `topic` is by its name; None: one the rule does not govern."""
    if topic == AUDIT_TOPIC:
        return TopicKind.AUDIT
    if topic == AUDIT_CHECKPOINTS_TOPIC:
        return TopicKind.CHECKPOINTS
    if topic == QUARANTINE_TOPIC:
        return TopicKind.QUARANTINE
    prefixes = {
        INGRESS_PREFIX: TopicKind.INGRESS,
        DELIVERY_PREFIX: TopicKind.DELIVERY,
        DEAD_LETTER_PREFIX: TopicKind.DEAD_LETTER,
    }
    for prefix, kind in prefixes.items():
        if topic.startswith(prefix):
            return kind
    return None


def _bounded(keep: timedelta) -> dict[str, str]:
    keep_ms = max(1, int(keep.total_seconds() * 1000))
    segment_ms = min(keep_ms, int(MAX_SEGMENT.total_seconds() * 1000))
    return {"retention.ms": str(keep_ms), "segment.ms": str(segment_ms)}


@dataclass(frozen=True)
class RetentionRule:
    """The topic configuration the law and the operator's bounds ask for.

    Parameters:
        settings: the bus-wide bounds.
        purpose_days: each purpose's retention_days (from the policy in force).
        consumer_purposes: per consumer, the purposes it holds grants for (caps its dead letters).
    """

    settings: RetentionSettings = field(default_factory=RetentionSettings)
    purpose_days: Mapping[str, int] = field(default_factory=dict)
    consumer_purposes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, snapshot: Snapshot, settings: RetentionSettings) -> "RetentionRule":
        """The rule for the policy `snapshot` (the empty one: the bounds alone)."""
        purposes: dict[str, set[str]] = {}
        for (consumer, _), grants in snapshot.grants.items():
            purposes.setdefault(consumer, set()).update(g.purpose for g in grants)
        return cls(
            settings,
            {code: p.retention_days for code, p in snapshot.purposes.items()},
            {c: frozenset(p) for c, p in purposes.items()},
        )

    def _capped(self, bound: timedelta, purposes: Iterable[str]) -> timedelta:
        days = [self.purpose_days[p] for p in purposes if p in self.purpose_days]
        return min([bound, *(timedelta(days=d) for d in days)])

    def delivery(self, purpose: str) -> dict[str, str]:
        """A delivery topic for `purpose`: the bound, capped at the purpose's retention_days (a
        purpose not in the policy: the bound alone)."""
        return _bounded(self._capped(self.settings.delivery, [purpose]))

    def dead_letter(self, consumer: str) -> dict[str, str]:
        """`consumer`'s dead letters: the bound, capped at its shortest purpose."""
        purposes = self.consumer_purposes.get(consumer, frozenset())
        return _bounded(self._capped(self.settings.dead_letter, purposes))

    def for_kind(self, kind: TopicKind, topic: str) -> dict[str, str]:
        """The configuration of `topic` as a topic of `kind` (its name says the consumer and
        purpose of delivery and dead-letter topics)."""
        if kind is TopicKind.DELIVERY:
            return self.delivery(topic.rsplit(".", 1)[-1])
        if kind is TopicKind.DEAD_LETTER:
            return self.dead_letter(topic.rsplit(".", 1)[-1])
        fixed = {
            TopicKind.INGRESS: _bounded(self.settings.ingress),
            TopicKind.QUARANTINE: _bounded(self.settings.quarantine),
            TopicKind.AUDIT: UNLIMITED_RETENTION,
            TopicKind.CHECKPOINTS: CHECKPOINTS_CONFIG,
        }
        return dict(fixed[kind])

    def wanted(self, topics: Iterable[str]) -> dict[str, dict[str, str]]:
        """The configuration of each of `topics` the rule governs (by the bus's names)."""
        found = {}
        for topic in topics:
            kind = kind_of(topic)
            if kind is not None:
                found[topic] = self.for_kind(kind, topic)
        return found


@dataclass(frozen=True)
class ConfigChange:
    """One setting of one topic that differed from the rule: `old` as the broker had it."""

    topic: str
    key: str
    old: str | None
    new: str

    def __str__(self) -> str:
        return f"{self.topic} {self.key}: {self.old} -> {self.new}"


def reconcile(
    admin: KafkaAdmin, wanted: Mapping[str, Mapping[str, str]], *, dry_run: bool = False
) -> list[ConfigChange]:
    """Compare the broker's effective configuration of each topic in `wanted` (those that exist)
    with it and alter what differs (not with `dry_run`); returns every difference, logged."""
    existing = set(wanted) & admin.list_topics()
    current = admin.topic_configs(sorted(existing))
    changes = [
        ConfigChange(topic, key, current[topic].get(key), value)
        for topic in sorted(existing)
        for key, value in sorted(wanted[topic].items())
        if current[topic].get(key) != value
    ]
    if changes and not dry_run:
        altered: dict[str, dict[str, str]] = {}
        for change in changes:
            altered.setdefault(change.topic, {})[change.key] = change.new
        admin.alter_topic_configs(altered)
        for change in changes:
            log.info("topic config changed: %s", change)
    return changes
