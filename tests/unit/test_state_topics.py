"""A topic the broker will not create holds back only the subscriptions that need it: the rest of
a new state (a revocation above all) goes in force at once, with its ACLs. The broker is a
stand-in admin that refuses one topic (as Kafka does for a topic marked for deletion); the topic
and ACL code is the real one."""

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

import pytest
from prometheus_client import CollectorRegistry

from bus.control.broker_setup import KafkaBrokerSetup
from bus.control.state_reading import StateReading
from bus.enforcer.backoff import Backoff
from bus.enforcer.health import EnforcerHealth
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.state_watcher import StateWatcher, WatcherTiming
from bus.errors import BrokerError
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
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
class RefusingAdmin:
    """Topics and ACLs in memory; creating a topic named in `refuse` fails as Kafka's does."""

    refuse: set[str] = field(default_factory=set)
    topics: set[str] = field(default_factory=set)
    acls: set[Acl] = field(default_factory=set)

    def list_topics(self) -> set[str]:
        return set(self.topics)

    def ensure_topics(
        self, names: Iterable[str], partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> list[str]:
        missing = sorted(set(names) - self.topics)
        self.topics |= set(missing) - self.refuse
        if refused := sorted(set(missing) & self.refuse):
            raise BrokerError(f"could not create topics ({refused[0]}): marked for deletion")
        return missing

    def create_topics(
        self, names: Iterable[str], partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        self.ensure_topics(names, partitions, config)

    def ensure_topic_config(self, names: Iterable[str], config: Mapping[str, str]) -> list[str]:
        return []

    def topic_configs(self, topics: Iterable[str]) -> dict[str, dict[str, str]]:
        return {t: {} for t in topics}

    def alter_topic_configs(self, changes: Mapping[str, Mapping[str, str]]) -> None:
        pass

    def describe_acls_of(self, principal: str | None) -> set[Acl]:
        return {a for a in self.acls if principal in (None, a.principal)}

    def delete_acls(self, acls: Iterable[Acl]) -> None:
        self.acls -= set(acls)

    def create_acls(self, acls: Iterable[Acl]) -> None:
        self.acls |= set(acls)


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


def _read(subscription: Subscription) -> Acl:
    principal = f"User:{subscription.consumer}"
    topic = delivery_topic(subscription.consumer, subscription.purpose)
    return Acl(principal, Resource.TOPIC, topic, Operation.READ)


async def test_a_topic_that_cannot_be_created_holds_back_only_its_subscription(
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = RefusingAdmin()
    source = Source(StateReading(POLICY, frozenset({TAX})))
    registry = CollectorRegistry()
    watcher = StateWatcher(
        source,
        KafkaBrokerSetup(cast(KafkaAdmin, admin)),
        _state,
        WatcherTiming(),
        EnforcerHealth(registry),
        backoff=Backoff(0.01, 0.02),
    )
    stop = asyncio.Event()
    assert await watcher.first_state(stop)
    task = watcher.start(stop)
    assert _read(TAX) in admin.acls

    # One change: tax unsubscribes (a revocation), kba subscribes, but kba's topic is refused.
    admin.refuse = {delivery_topic("kba", "tax")}
    source.reading = StateReading(POLICY, frozenset({KBA}))
    assert await watcher.refresh()

    assert watcher.current().subscriptions[TYPE] == ()  # the revocation is in force at once
    assert _read(TAX) not in admin.acls  # and its READ is gone
    assert _read(KBA) not in admin.acls  # no READ for what is not in force
    report = watcher.health()
    assert report.subscriptions_held_back == 1
    assert report.status == "degraded"  # enforcing; an operator should look
    assert watcher.may_proceed()
    sample = registry.get_sample_value
    assert sample("bus_enforcer_topic_failures_total", {"error": "BrokerError"}) == 1
    assert sample("bus_enforcer_subscriptions_held_back") == 1
    held = [r.getMessage() for r in caplog.records if "held back" in r.getMessage()]
    assert len(held) == 1
    assert "kba" in held[0]
    assert "marked for deletion" in held[0]

    admin.refuse = set()  # the topic can be created again: the next refresh puts kba in force
    assert await watcher.refresh()
    assert watcher.current().subscriptions[TYPE] == (KBA,)
    assert _read(KBA) in admin.acls
    assert watcher.health().subscriptions_held_back == 0
    stop.set()
    await task
