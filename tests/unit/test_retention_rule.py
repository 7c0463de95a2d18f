"""The retention rule (bus/control/retention.py): which topic keeps data how long, pure."""

from datetime import timedelta
from pathlib import Path

import pytest

from bus.control.retention import (
    RetentionRule,
    RetentionSettings,
    TopicKind,
    kind_of,
    load_retention_settings,
)
from bus.errors import ConfigError
from bus.kafka.topics import (
    AUDIT_CHECKPOINTS_TOPIC,
    AUDIT_TOPIC,
    POLICY_TOPIC,
    QUARANTINE_TOPIC,
    SEEN_EVENTS_PREFIX,
    SUBSCRIPTIONS_TOPIC,
    dead_letter_topic,
    delivery_topic,
    ingress_topic,
    source_offsets_topic,
)
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot, empty_snapshot

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
DAY_MS = 86_400_000


def _ms(config: dict[str, str]) -> int:
    return int(config["retention.ms"])


def test_a_delivery_topic_keeps_the_bound_or_its_purposes_days_whichever_is_shorter() -> None:
    rule = RetentionRule(RetentionSettings(delivery=timedelta(days=14)), {"short": 3, "long": 1825})
    assert _ms(rule.delivery("short")) == 3 * DAY_MS
    assert _ms(rule.delivery("long")) == 14 * DAY_MS
    assert _ms(rule.delivery("not-in-policy")) == 14 * DAY_MS  # the bound alone


def test_segments_roll_daily_at_most_so_data_is_deleted_close_to_its_retention() -> None:
    rule = RetentionRule(RetentionSettings(ingress=timedelta(hours=2)))
    assert rule.delivery("p")["segment.ms"] == str(DAY_MS)
    short = rule.for_kind(TopicKind.INGRESS, ingress_topic("T"))
    assert short == {"retention.ms": str(2 * 3_600_000), "segment.ms": str(2 * 3_600_000)}


def test_dead_letters_are_capped_by_the_consumers_shortest_purpose() -> None:
    rule = RetentionRule(
        RetentionSettings(dead_letter=timedelta(days=30)),
        {"a": 10, "b": 400},
        {"tax": frozenset({"a", "b"}), "kba": frozenset({"b"})},
    )
    assert _ms(rule.dead_letter("tax")) == 10 * DAY_MS
    assert _ms(rule.dead_letter("kba")) == 30 * DAY_MS
    assert _ms(rule.dead_letter("unknown")) == 30 * DAY_MS


def test_the_audit_topic_and_its_checkpoints_keep_everything() -> None:
    rule = RetentionRule(RetentionSettings(delivery=timedelta(days=1)))
    wanted = rule.wanted([AUDIT_TOPIC, AUDIT_CHECKPOINTS_TOPIC])
    assert wanted[AUDIT_TOPIC] == {"retention.ms": "-1", "retention.bytes": "-1"}
    assert wanted[AUDIT_CHECKPOINTS_TOPIC] == {
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "cleanup.policy": "delete",
    }


def test_the_rule_tells_the_buss_topics_apart_and_leaves_the_others_alone() -> None:
    assert kind_of(delivery_topic("tax-by", "tax-death")) is TopicKind.DELIVERY
    assert kind_of(dead_letter_topic("tax-by")) is TopicKind.DEAD_LETTER
    assert kind_of(ingress_topic("population.PersonDied")) is TopicKind.INGRESS
    assert kind_of(QUARANTINE_TOPIC) is TopicKind.QUARANTINE
    ungoverned = [
        POLICY_TOPIC,
        SUBSCRIPTIONS_TOPIC,
        source_offsets_topic("muni-muc"),
        f"{SEEN_EVENTS_PREFIX}bus.ingress.population.PersonDied",
        "__consumer_offsets",
    ]
    assert RetentionRule().wanted(ungoverned) == {}


def test_the_reference_policy_caps_nothing_below_the_default_bound() -> None:
    snapshot = compile_snapshot(load_policy_set(REFERENCE))
    rule = RetentionRule.of(snapshot, RetentionSettings())
    days = {p.retention_days for p in snapshot.purposes.values()}
    assert min(days) == 365  # the reference purposes keep one to ten years
    assert rule.purpose_days.keys() == snapshot.purposes.keys()
    assert {_ms(rule.delivery(p)) for p in snapshot.purposes} == {14 * DAY_MS}
    consumers = {consumer for consumer, _ in snapshot.grants}
    assert rule.consumer_purposes.keys() == consumers
    assert RetentionRule.of(empty_snapshot(), RetentionSettings()).purpose_days == {}


def test_bounds_come_from_bus_retention_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for kind in ("DELIVERY", "INGRESS", "QUARANTINE", "DEAD_LETTER"):
        monkeypatch.delenv(f"BUS_RETENTION_{kind}_DAYS", raising=False)
    assert load_retention_settings() == RetentionSettings()
    monkeypatch.setenv("BUS_RETENTION_DELIVERY_DAYS", "2.5")
    monkeypatch.setenv("BUS_RETENTION_QUARANTINE_DAYS", "60")
    settings = load_retention_settings()
    assert settings.delivery == timedelta(days=2.5)
    assert settings.quarantine == timedelta(days=60)
    assert settings.ingress == RetentionSettings().ingress


@pytest.mark.parametrize("value", ["0", "-1", "3651", "two weeks"])
def test_a_bad_bound_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BUS_RETENTION_INGRESS_DAYS", value)
    with pytest.raises(ConfigError, match=r"BUS_RETENTION_INGRESS_DAYS.*number of days"):
        load_retention_settings()
