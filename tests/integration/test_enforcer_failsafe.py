"""Policy fails closed, on the real broker: a malformed record on the policy or subscriptions topic
is refused and enforcement goes on under the last valid state; a broker restart does not end the
state watcher; an expiring grant loses its READ ACL and its next event is denied GRANT_EXPIRED;
a state that cannot be refreshed pauses consumption (nothing permitted, nothing lost)."""

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bus.enforcer.health import EnforcerHealth
from bus.enforcer.runtime import EnforcerConfig
from bus.kafka import broker
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings
from bus.policy_store import ensure_policy_topic, publish
from bus.topics import POLICY_TOPIC, SUBSCRIPTIONS_TOPIC
from bus.topology import ensure_registry_topics
from tests.support.failsafe_scene import Scene, running_enforcer, send, wait_delivered
from tests.support.kafka import unique_name
from tests.support.private_broker import private_broker_settings

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, scene: Scene, **timing: float) -> EnforcerConfig:
    return EnforcerConfig(
        policy_dir=None,
        key_dir=scene.keys,
        pseudonym_key_file=tmp_path / "pseudonym.key",
        group=unique_name("enforcer"),
        reload_interval_s=0.5,
        **timing,
    )


async def _until(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 4)):
        if condition():
            return
        await asyncio.sleep(0.25)
    pytest.fail("condition not met in time")


async def _prepare(connection: KafkaConnection, admin: KafkaAdmin, scene: Scene) -> None:
    ensure_policy_topic(admin)
    ensure_registry_topics(admin)
    await publish(connection, scene.policy())
    await scene.subscribe(connection, scene.consumers[0])


async def test_malformed_policy_and_subscription_records_are_refused_and_enforcement_goes_on(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bus")
    registry = CollectorRegistry()
    health = EnforcerHealth(registry)
    scene = Scene.create(tmp_path, consumers=2)
    first, second = scene.consumers
    await _prepare(kafka_broker, kafka_admin, scene)
    broken_key = f"{unique_name('broken')}|{scene.subscription(first).event_type}|x".encode()
    try:
        config = _config(tmp_path, scene)
        async with running_enforcer(kafka_broker, config, health=health) as enforcer:
            before = await scene.publish_event(kafka_broker, "P-7101-0001")
            assert await wait_delivered(kafka_broker, first, before)
            in_force = health.report().policy

            await send(kafka_broker, POLICY_TOPIC, b"sha256:broken", b'{"agencies": ')
            await send(kafka_broker, SUBSCRIPTIONS_TOPIC, broken_key, b'{"consumer": 5}')
            await asyncio.sleep(3)  # several refreshes read both
            # The watcher still follows the bus: a new subscription takes effect...
            await scene.subscribe(kafka_broker, second)
            await _until(lambda: health.report().subscriptions == 2)
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
        await send(kafka_broker, SUBSCRIPTIONS_TOPIC, broken_key, None)
        await scene.cleanup(kafka_broker, kafka_admin)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any(POLICY_TOPIC in m for m in refusals), refusals
    assert any(SUBSCRIPTIONS_TOPIC in m for m in refusals), refusals
    sample = registry.get_sample_value
    assert sample("bus_enforcer_state_records_refused_total", {"topic": POLICY_TOPIC}) == 1
    assert (
        sample("bus_enforcer_state_records_refused_total", {"topic": SUBSCRIPTIONS_TOPIC}) or 0
    ) >= 1


@pytest.fixture
def own_broker(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[KafkaSettings]:
    """A broker of this test's own (own ports and state), so it can be restarted freely."""
    with private_broker_settings(tmp_path / "kafka", kafka_settings.cache_dir) as settings:
        yield settings


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
        assert await wait_delivered(connection, second, after, timeout_s=90)
        # ...and enforcement goes on for the consumer subscribed before.
        assert await wait_delivered(connection, first, after)
        assert not enforcer.done()
        assert health.report().proceeding
    failures = registry.get_sample_value(
        "bus_enforcer_state_refresh_failures_total", {"error": "KafkaConnectionError"}
    )
    assert (failures or 0) >= 2
