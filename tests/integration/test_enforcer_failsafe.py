"""Policy fails closed, on the real broker: a malformed record on the policy or subscriptions topic
is refused and enforcement goes on under the last valid state; a broker restart does not end the
state watcher; an expiring grant loses its READ ACL and its next event is denied GRANT_EXPIRED;
a state that cannot be refreshed pauses consumption (nothing permitted, nothing lost)."""

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from prometheus_client import CollectorRegistry

from bus.control.acls import desired_acls
from bus.control.policy_store import ensure_policy_topic, publish
from bus.control.state_reading import StateTopics
from bus.control.topology import ensure_registry_topics
from bus.devenv import broker
from bus.enforcer.health import EnforcerHealth
from bus.enforcer.runtime import EnforcerConfig
from bus.enforcer.service import SESSION_TIMEOUT_MS
from bus.enforcer.txn_producer import OPERATION_TIMEOUT_S, WATCHDOG_MARGIN_S
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings
from bus.kafka.topics import POLICY_TOPIC, delivery_topic
from bus.policy.snapshot import compile_snapshot
from tests.support.failsafe_scene import (
    PURPOSE,
    Scene,
    audits_of,
    deliveries_of,
    running_enforcer,
    send,
    wait_delivered,
    write_policy_dir,
)
from tests.support.kafka import unique_name
from tests.support.private_broker import private_broker_settings

# How long an enforcer may take to deliver again after a broker restart: rejoin its group, give up
# a transactional call stuck by the restart and renew its producer (each bounded by the watchdog),
# with a minute to spare for a loaded machine.
RECOVERY_S = SESSION_TIMEOUT_MS / 1000 + 2 * (OPERATION_TIMEOUT_S + WATCHDOG_MARGIN_S) + 60


def _config(
    tmp_path: Path,
    scene: Scene,
    *,
    staleness_limit_s: float = 300,
    acl_resync_interval_s: float = 30,
    refresh_timeout_s: float = 60,
) -> EnforcerConfig:
    return EnforcerConfig(
        policy_dir=None,
        key_dir=scene.keys,
        pseudonym_key_file=tmp_path / "pseudonym.key",
        group=unique_name("enforcer"),
        reload_interval_s=0.5,
        staleness_limit_s=staleness_limit_s,
        acl_resync_interval_s=acl_resync_interval_s,
        refresh_timeout_s=refresh_timeout_s,
        state_topics=scene.topics,
        ingress_prefix=scene.ingress_prefix,
    )


async def _until(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 4)):
        if condition():
            return
        await asyncio.sleep(0.25)
    pytest.fail("condition not met in time")


class Watched(NamedTuple):
    """The metrics and /healthz report of the enforcer a test runs."""

    registry: CollectorRegistry
    health: EnforcerHealth


@pytest.fixture
def watched(caplog: pytest.LogCaptureFixture) -> Watched:
    """The test's own metrics registry and health report, with the bus's INFO log captured (what
    was refused, paused or resumed is logged)."""
    caplog.set_level(logging.INFO, logger="bus")
    registry = CollectorRegistry()
    return Watched(registry, EnforcerHealth(registry))


@pytest.fixture
def own_state_topics(topic_factory: Callable[..., str]) -> StateTopics:
    """A policy topic and a registry of the test's own on the shared broker: writing there, a test
    replaces nobody's policy in force and unsubscribes nobody."""
    return StateTopics(topic_factory("policy"), topic_factory("subscriptions"))


async def _prepare(connection: KafkaConnection, admin: KafkaAdmin, scene: Scene) -> None:
    ensure_policy_topic(admin, scene.topics.policy)
    ensure_registry_topics(admin, scene.topics.subscriptions)
    await publish(connection, scene.policy(), scene.topics.policy)
    await scene.subscribe(connection, scene.consumers[0])


async def test_malformed_policy_and_subscription_records_are_refused_and_enforcement_goes_on(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    own_state_topics: StateTopics,
    ingress_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    watched: Watched,
) -> None:
    registry, health = watched
    scene = Scene.create(tmp_path, 2, own_state_topics, ingress_prefix)
    policy_topic, subscriptions_topic = own_state_topics.policy, own_state_topics.subscriptions
    first, second = scene.consumers
    await _prepare(kafka_broker, kafka_admin, scene)
    broken_key = f"{unique_name('broken')}|{scene.subscription(first).event_type}|x".encode()
    try:
        config = _config(tmp_path, scene)
        async with running_enforcer(kafka_broker, config, health=health) as enforcer:
            before = await scene.publish_event(kafka_broker, "P-7101-0001")
            assert await wait_delivered(kafka_broker, first, before)
            in_force = health.report().policy
            # Others' subscriptions on a shared broker count too: only the change is this test's.
            registered = health.report().subscriptions

            await send(kafka_broker, policy_topic, b"sha256:broken", b'{"agencies": ')
            await send(kafka_broker, subscriptions_topic, broken_key, b'{"consumer": 5}')
            await asyncio.sleep(3)  # several refreshes read both
            # The watcher still follows the bus: a new subscription takes effect...
            await scene.subscribe(kafka_broker, second)
            await _until(lambda: health.report().subscriptions == registered + 1)
            after = await scene.publish_event(kafka_broker, "P-7101-0002")
            assert await wait_delivered(kafka_broker, second, after)
            # ...and the last valid policy stayed in force (not "no policy": deny all).
            assert await wait_delivered(kafka_broker, first, after)
            assert not enforcer.done()
            report = health.report()
            assert report.policy == in_force
            assert report.proceeding
            assert report.refused_records >= 2
    finally:
        await scene.cleanup(kafka_broker, kafka_admin)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any(policy_topic in m for m in refusals), refusals
    assert any(subscriptions_topic in m for m in refusals), refusals
    sample = registry.get_sample_value
    assert sample("bus_enforcer_state_records_refused_total", {"topic": policy_topic}) == 1
    assert (
        sample("bus_enforcer_state_records_refused_total", {"topic": subscriptions_topic}) or 0
    ) >= 1


@pytest.fixture
def own_broker(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[KafkaSettings]:
    """A broker of this test's own (own ports and state), so it can be restarted freely."""
    with private_broker_settings(tmp_path / "kafka", kafka_settings.cache_dir) as settings:
        yield settings


async def test_without_a_valid_policy_the_enforcer_pauses_and_revokes_nothing(
    own_broker: KafkaSettings, tmp_path: Path
) -> None:
    """Only a malformed record on the policy topic (no set applied yet, or every one withdrawn):
    nothing is decided (a denial would lose the lawful delivery for good), /healthz says why, the
    agencies' ACLs stay; once a set is applied the waiting event flows, once."""
    connection = broker.admin_connection(own_broker)
    admin = KafkaAdmin(connection)
    health = EnforcerHealth(CollectorRegistry())
    scene = Scene.create(tmp_path, consumers=1)
    consumer = scene.consumers[0]
    ensure_policy_topic(admin)
    ensure_registry_topics(admin)
    await send(connection, POLICY_TOPIC, b"sha256:broken", b'{"agencies": ')
    await scene.subscribe(connection, consumer)
    # What `bus acl sync` granted under an earlier set: "no policy" must not revoke it all.
    subscribed = [scene.subscription(consumer)]
    granted = desired_acls(compile_snapshot(scene.policy()), subscribed, time.time())
    admin.create_acls(granted)
    async with running_enforcer(connection, _config(tmp_path, scene), health=health) as enforcer:
        await _until(lambda: health.report().watcher_running)
        healthy, report = health.healthz()
        assert not healthy  # /healthz: 503
        assert report["status"] == "paused"
        assert "no valid policy" in str(report["paused_because"])
        event = await scene.publish_event(connection, "P-7105-0001")
        await asyncio.sleep(5)  # paused: nothing is decided, quarantined, delivered or audited
        assert await audits_of(connection, event, scene) == []
        assert event not in await deliveries_of(connection, consumer)
        assert granted <= admin.describe_acls_of(None)

        await publish(connection, scene.policy())  # `bus policy apply`
        await _until(lambda: health.report().proceeding)
        assert await wait_delivered(connection, consumer, event)
        assert not enforcer.done()
    assert [a["outcome"] for a in await audits_of(connection, event, scene)] == ["PERMIT"]
    assert (await deliveries_of(connection, consumer)).count(event) == 1


@pytest.mark.slow
async def test_the_state_watcher_survives_a_broker_restart(
    own_broker: KafkaSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bus")
    connection = broker.admin_connection(own_broker)
    admin = KafkaAdmin(connection)
    registry = CollectorRegistry()
    health = EnforcerHealth(registry)
    scene = Scene.create(tmp_path, consumers=2)
    first, second = scene.consumers
    await _prepare(connection, admin, scene)
    config = _config(tmp_path, scene, refresh_timeout_s=10)
    async with running_enforcer(connection, config, health=health) as enforcer:
        before = await scene.publish_event(connection, "P-7102-0001")
        assert await wait_delivered(connection, first, before)

        await asyncio.to_thread(broker.down, own_broker)
        await _until(lambda: health.report().failures_in_a_row >= 2)  # refreshes fail meanwhile
        await asyncio.to_thread(broker.up, own_broker, say=lambda _: None)

        # The watcher still follows the bus: a new subscription takes effect...
        await scene.subscribe(connection, second)
        await _until(lambda: health.report().subscriptions == 2, timeout_s=90)
        after = await scene.publish_event(connection, "P-7102-0002")
        # RECOVERY_S: a local run logged a stuck transactional call given up and delivered 43 s
        # after the subscription; one CI run had not delivered after 90 s.
        assert await wait_delivered(connection, second, after, timeout_s=RECOVERY_S)
        # ...and enforcement goes on for the consumer subscribed before.
        assert await wait_delivered(connection, first, after, timeout_s=RECOVERY_S)
        assert not enforcer.done()
        assert health.report().proceeding
    failures = registry.get_sample_value(
        "bus_enforcer_state_refresh_failures_total", {"error": "KafkaConnectionError"}
    )
    assert (failures or 0) >= 2


async def test_an_expiring_grant_loses_its_read_acl_and_its_next_event_is_denied(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    own_state_topics: StateTopics,
    ingress_prefix: str,
    tmp_path: Path,
) -> None:
    health = EnforcerHealth()
    scene = Scene.create(tmp_path, 1, own_state_topics, ingress_prefix)
    consumer = scene.consumers[0]
    principal = f"User:{consumer}"
    read = Acl(principal, Resource.TOPIC, delivery_topic(consumer, PURPOSE), Operation.READ)
    expires = datetime.now(UTC) + timedelta(seconds=15)
    await publish(kafka_broker, scene.policy(valid_until=expires), own_state_topics.policy)
    await scene.subscribe(kafka_broker, consumer)
    config = _config(tmp_path, scene, acl_resync_interval_s=2)
    try:
        async with running_enforcer(kafka_broker, config, health=health) as enforcer:
            await _until(lambda: health.report().subscriptions >= 1)  # a state is in force
            assert read in await asyncio.to_thread(kafka_admin.describe_acls_of, principal)

            await asyncio.sleep((expires - datetime.now(UTC)).total_seconds())
            for _ in range(60):  # the READ must be gone within 60 s of valid_until
                if read not in await asyncio.to_thread(kafka_admin.describe_acls_of, principal):
                    break
                await asyncio.sleep(1)
            else:
                pytest.fail(f"{read} still there 60 s after the grant expired")

            event = await scene.publish_event(kafka_broker, "P-7103-0001")
            verdicts = await _audited(kafka_broker, event, scene)
            assert [(v["consumer"], v["outcome"], v["reasons"]) for v in verdicts] == [
                (consumer, "DENY", ["GRANT_EXPIRED"])
            ]
            assert event not in await deliveries_of(kafka_broker, consumer)
            assert not enforcer.done()
    finally:
        await scene.cleanup(kafka_broker, kafka_admin)


async def test_a_stale_state_pauses_consumption_and_loses_nothing(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    own_state_topics: StateTopics,
    ingress_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    watched: Watched,
) -> None:
    registry, health = watched
    scene = Scene.create(tmp_path, 1, own_state_topics, ingress_prefix)
    consumer = scene.consumers[0]
    policy_dir = tmp_path / "policy"  # `bus enforce --policy DIR`: a broken file cannot be read
    write_policy_dir(scene.policy(), policy_dir)
    await scene.subscribe(kafka_broker, consumer)
    config = replace(_config(tmp_path, scene, staleness_limit_s=3), policy_dir=policy_dir)
    grants = policy_dir / "grants.yaml"
    try:
        async with running_enforcer(kafka_broker, config, health=health) as enforcer:
            before = await scene.publish_event(kafka_broker, "P-7104-0001")
            assert await wait_delivered(kafka_broker, consumer, before)

            valid = grants.read_text()
            grants.write_text("grants: [unclosed\n")
            await _until(lambda: not health.report().proceeding)
            assert registry.get_sample_value("bus_enforcer_paused") == 1
            # A rebalance may hold the loop when the state goes stale: wait until it holds too.
            await _until(lambda: "consumption paused" in caplog.text)
            during = await scene.publish_event(kafka_broker, "P-7104-0002")
            await asyncio.sleep(5)  # paused: nothing is decided, delivered or audited
            assert during not in await deliveries_of(kafka_broker, consumer)
            assert await audits_of(kafka_broker, during, scene) == []

            grants.write_text(valid)
            await _until(lambda: health.report().proceeding)
            assert await wait_delivered(kafka_broker, consumer, during)
            assert not enforcer.done()
        assert (await deliveries_of(kafka_broker, consumer)).count(during) == 1
        assert [a["outcome"] for a in await audits_of(kafka_broker, during, scene)] == ["PERMIT"]
    finally:
        await scene.cleanup(kafka_broker, kafka_admin)
    logged = [r.getMessage() for r in caplog.records]
    assert any("consumption paused" in m for m in logged)
    assert any("consumption resumed" in m for m in logged)


async def _audited(
    connection: KafkaConnection, event_id: str, scene: Scene, timeout_s: float = 60
) -> list[dict[str, Any]]:
    for _ in range(int(timeout_s)):
        if found := await audits_of(connection, event_id, scene):
            return found
        await asyncio.sleep(1)
    pytest.fail(f"event {event_id} was not audited in {timeout_s:.0f} s")
