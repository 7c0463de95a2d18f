"""What may hold the bus's policy and subscriptions: never a topic an agency writes (its ingress,
dead-letter or source-offsets topics) nor one the bus's data flows through (delivery, quarantine,
audit, witness). Policy sets are not signed: read from an agency's topic, they would be its own."""

import pytest

from bus.control.state_reading import StateTopics
from bus.control.state_topics import check_state_topic
from bus.errors import ConfigError
from bus.kafka.topics import (
    AUDIT_CHECKPOINTS_TOPIC,
    AUDIT_TOPIC,
    POLICY_TOPIC,
    QUARANTINE_TOPIC,
    SUBSCRIPTIONS_TOPIC,
    dead_letter_topic,
    delivery_topic,
    ingress_topic,
    source_offsets_topic,
)

REFUSED = [
    ingress_topic("population.AddressChanged"),
    ingress_topic("population.AddressChanged", prefix="bus.ingress.x."),
    dead_letter_topic("tax-by"),
    source_offsets_topic("muni-09162000"),
    delivery_topic("tax-by", "tax-residence"),
    QUARANTINE_TOPIC,
    AUDIT_TOPIC,
    AUDIT_CHECKPOINTS_TOPIC,
    "test-audit.checkpoints",
]


@pytest.mark.parametrize("topic", REFUSED)
def test_a_topic_agencies_write_or_data_flows_through_holds_no_state(topic: str) -> None:
    with pytest.raises(ConfigError, match="cannot hold the bus's policy or subscriptions"):
        check_state_topic(topic)
    with pytest.raises(ConfigError):
        StateTopics(policy=topic)
    with pytest.raises(ConfigError):
        StateTopics(subscriptions=topic)


@pytest.mark.parametrize("topic", [POLICY_TOPIC, SUBSCRIPTIONS_TOPIC, "test_apply-policy-1a2b"])
def test_the_bus_s_own_state_topics_and_a_test_s_own_are_accepted(topic: str) -> None:
    assert check_state_topic(topic) == topic


def test_policy_and_subscriptions_never_share_a_topic() -> None:
    with pytest.raises(ConfigError, match="two topics"):
        StateTopics(policy="own-state", subscriptions="own-state")
