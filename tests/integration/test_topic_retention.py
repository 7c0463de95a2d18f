"""Item 6 of issue 14 on the real broker: the bus's topics keep data as long as the retention rule
says. Topics of the test's own (a delivery topic of a unique consumer, a unique audit topic): the
bus's global topics are never altered here."""

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from bus.cli.main import app
from bus.control.retention import (
    ConfigChange,
    RetentionRule,
    RetentionSettings,
    TopicKind,
    reconcile,
)
from bus.control.topology import ensure_audit_topic, ensure_configured_topics
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import delivery_topic
from tests.support.kafka import unique_name

DAY_MS = 86_400_000
RULE = RetentionRule(RetentionSettings(delivery=timedelta(days=14)), {"short": 3, "long": 1825})


@pytest.fixture
def own_topics(kafka_admin: KafkaAdmin) -> Iterator[list[str]]:
    """Names the test creates through the bus's own code; deleted afterwards."""
    names: list[str] = []
    yield names
    existing = set(names) & kafka_admin.list_topics()
    if existing:
        kafka_admin.delete_topics(sorted(existing))


def test_a_drifted_delivery_topic_is_altered_and_the_change_reported(
    kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(name=delivery_topic(unique_name("retention"), "short"))
    kafka_admin.alter_topic_configs({topic: {"retention.ms": "999999"}})  # drift, by hand
    wanted = RULE.wanted([topic])

    assert reconcile(kafka_admin, wanted, dry_run=True)[0].old == "999999"
    assert kafka_admin.topic_config(topic)["retention.ms"] == "999999"  # dry run: unchanged

    changes = reconcile(kafka_admin, wanted)
    assert changes == [
        ConfigChange(topic, "retention.ms", "999999", str(3 * DAY_MS)),
        ConfigChange(topic, "segment.ms", str(7 * DAY_MS), str(DAY_MS)),
    ]
    assert str(changes[0]) == f"{topic} retention.ms: 999999 -> {3 * DAY_MS}"
    config = kafka_admin.topic_config(topic)
    assert (config["retention.ms"], config["segment.ms"]) == (str(3 * DAY_MS), str(DAY_MS))
    assert reconcile(kafka_admin, wanted) == []  # a second run changes nothing


def test_a_delivery_topic_keeps_the_bound_or_its_purposes_days_whichever_is_shorter(
    kafka_admin: KafkaAdmin, own_topics: list[str]
) -> None:
    consumer = unique_name("retention")
    short, long = delivery_topic(consumer, "short"), delivery_topic(consumer, "long")
    own_topics += [short, long]
    assert ensure_configured_topics(kafka_admin, RULE.wanted([short, long]), 1) == sorted(
        [short, long]
    )
    configs = kafka_admin.topic_configs([short, long])
    assert configs[short]["retention.ms"] == str(3 * DAY_MS)  # the purpose's 3 days
    assert configs[long]["retention.ms"] == str(14 * DAY_MS)  # the bound, under 1825 days
    assert reconcile(kafka_admin, RULE.wanted([short, long])) == []  # created as the rule says


def test_the_audit_topic_stays_unlimited(kafka_admin: KafkaAdmin, own_topics: list[str]) -> None:
    audit = unique_name("retention-audit")
    own_topics.append(audit)
    assert ensure_audit_topic(kafka_admin, audit, partitions=1) == [audit]
    unlimited = RULE.for_kind(TopicKind.AUDIT, audit)
    assert reconcile(kafka_admin, {audit: unlimited}) == []
    kafka_admin.alter_topic_configs({audit: {"retention.ms": str(DAY_MS)}})  # drift, by hand
    assert ensure_audit_topic(kafka_admin, audit, partitions=1) == []  # exists: given back
    config = kafka_admin.topic_config(audit)
    assert (config["retention.ms"], config["retention.bytes"]) == ("-1", "-1")


def test_the_reconcile_command_prints_what_differs_and_a_dry_run_changes_nothing(
    kafka_admin: KafkaAdmin, topic_factory: Callable[..., str]
) -> None:
    # The reference policy's purpose tax-residence; a consumer of the test's own.
    topic = topic_factory(name=delivery_topic(unique_name("retention"), "tax-residence"))
    kafka_admin.alter_topic_configs({topic: {"retention.ms": "999999"}})
    result = CliRunner().invoke(
        app,
        ["topics", "reconcile", "--dry-run", "--policy", "policies/reference"],
        env={"BUS_RETENTION_DELIVERY_DAYS": "2"},
    )
    assert result.exit_code == 0, result.output
    assert f"{topic} retention.ms: 999999 -> {2 * DAY_MS}" in result.output.splitlines()
    assert "retention reconciled: would change" in result.output
    assert kafka_admin.topic_config(topic)["retention.ms"] == "999999"
