"""The enforcer's read-only broker setup under the state watcher: it creates no topic and syncs no
ACL; a subscription whose delivery topic the operator has not created yet is held back, the rest
of the state goes in force, and the subscription follows once the topic exists."""

import logging
from dataclasses import dataclass, field
from typing import cast

import pytest
from prometheus_client import CollectorRegistry

from bus.control.broker_setup import ReadOnlyBrokerSetup, base_topics
from bus.control.state_reading import StateReading, StateTopics
from bus.enforcer.backoff import Backoff
from bus.enforcer.health import EnforcerHealth
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.state_watcher import StateWatcher, WatcherTiming
from bus.kafka.admin import KafkaAdmin
from bus.kafka.topics import delivery_topic
from bus.keys import KeyStore
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot
from bus.record.pseudonyms import Pseudonymizer
from tests.support.policy_sets import agency, grant, policy_set, purpose

TYPE = "population.AddressChanged"
POLICY = compile_snapshot(
    policy_set(
        agencies=(agency("tax", "09", "taxation"), agency("kba", "09", "taxation")),
        purposes=(purpose("tax", "taxation"),),
        grants=(grant("g-tax", "tax", "tax"), grant("g-kba", "kba", "tax")),
    )
)
TAX = Subscription("tax", TYPE, "tax")
KBA = Subscription("kba", TYPE, "tax")


@dataclass
class ListingAdmin:
    """Lists topics; any other call (create, configure, ACLs) fails the test."""

    topics: set[str] = field(default_factory=set)

    def list_topics(self) -> set[str]:
        return set(self.topics)


@dataclass
class Source:
    reading: StateReading

    async def read(self) -> StateReading:
        return self.reading


def _state(reading: StateReading) -> EnforcerState:
    return EnforcerState(
        snapshot=reading.snapshot,
        keys=KeyStore([]),
        subscriptions={TYPE: tuple(sorted(reading.subscriptions, key=str))},
        pseudonyms=Pseudonymizer(b"k" * 32),
    )


async def test_a_subscription_goes_in_force_once_the_operator_created_its_topic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bus")
    admin = ListingAdmin({delivery_topic("tax", "tax")})
    source = Source(StateReading(POLICY, frozenset({TAX})))
    registry = CollectorRegistry()
    watcher = StateWatcher(
        source,
        ReadOnlyBrokerSetup(cast(KafkaAdmin, admin)),
        _state,
        WatcherTiming(),
        EnforcerHealth(registry),
        backoff=Backoff(0.01, 0.02),
    )
    assert await watcher.refresh()
    assert watcher.current().subscriptions[TYPE] == (TAX,)
    assert watcher.health().acls_in_sync  # nothing to sync: the operator does

    source.reading = StateReading(POLICY, frozenset({TAX, KBA}))  # kba subscribes
    await watcher.refresh()
    assert watcher.current().subscriptions[TYPE] == (TAX,)  # held back: no topic yet
    assert watcher.health().subscriptions_held_back == 1
    assert "held back until the operator creates their topics" in caplog.text
    assert delivery_topic("kba", "tax") in caplog.text

    admin.topics.add(delivery_topic("kba", "tax"))  # the operator's watch created it
    assert await watcher.refresh()
    assert set(watcher.current().subscriptions[TYPE]) == {TAX, KBA}
    assert watcher.health().subscriptions_held_back == 0


def test_the_enforcer_is_told_which_of_its_topics_are_missing() -> None:
    topics = StateTopics("own.policy", "own.subscriptions")
    needed = base_topics(topics, "t.ingress.")
    assert {"own.policy", "own.subscriptions", "bus.audit", "bus.quarantine"} <= set(needed)
    assert "t.ingress.population.AddressChanged" in needed
    admin = ListingAdmin(set(needed) - {"own.policy", "bus.quarantine"})
    setup = ReadOnlyBrokerSetup(cast(KafkaAdmin, admin))
    assert setup.missing_base_topics(topics, "t.ingress.") == ["bus.quarantine", "own.policy"]
    admin.topics |= {"own.policy", "bus.quarantine"}
    assert setup.missing_base_topics(topics, "t.ingress.") == []
