"""The enforcer as its own principal (bus-enforcer), the operator apart: `bus topics provision` lets
it start on a fresh cluster; with `bus acl sync --watch` running as a process beside it, events
flow producer → enforcer → consumer's delivery topic; a new subscription goes in force only once
the operator has created its delivery topic; and the broker refuses the enforcer's principal what
only the operator may do (create a delivery topic, change an ACL).

On a broker of the test's own, so that the bus's own state topics and ingress topics are used as in
production (no grant of the test's making), and the operator's ACL sync, which follows this test's
policy, revokes nobody else's access on the shared broker."""

import asyncio
import logging
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bus.control.policy_store import publish
from bus.control.service_principals import ENFORCER_USER
from bus.control.topology import ingress_topics
from bus.devenv import broker
from bus.enforcer.health import EnforcerHealth
from bus.enforcer.runtime import EnforcerConfig, run_enforcer
from bus.errors import BrokerError
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.profile import load_profile
from bus.kafka.settings import KafkaSettings
from bus.kafka.topics import AUDIT_CHECKPOINTS_TOPIC, AUDIT_TOPIC, delivery_topic
from tests.support.failsafe_scene import (
    PURPOSE,
    Scene,
    audits_of,
    wait_delivered,
)
from tests.support.kafka import unique_name
from tests.support.operator_watching import BUS, operator_watch
from tests.support.private_broker import private_broker_settings


@pytest.fixture
def own_broker(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[KafkaSettings]:
    """A broker of this test's own, with the bus's service principals and their profiles."""
    with private_broker_settings(tmp_path / "kafka", kafka_settings.cache_dir) as settings:
        yield settings


async def _until(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 4)):
        if condition():
            return
        await asyncio.sleep(0.25)
    pytest.fail("condition not met in time")


def _provision(operator_profile: Path) -> str:
    """`bus topics provision` as the operator; its output."""
    done = subprocess.run(
        [*BUS, "topics", "provision", "--profile", str(operator_profile)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_the_enforcer_runs_as_its_own_principal_beside_the_operator(
    own_broker: KafkaSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bus")
    admin_connection = broker.admin_connection(own_broker)
    admin = KafkaAdmin(admin_connection)
    operator_profile = own_broker.profiles_dir / "operator.toml"
    enforcer_connection = load_profile("enforcer", own_broker.profiles_dir / "enforcer.toml")
    assert enforcer_connection.username == ENFORCER_USER
    scene = Scene.create(tmp_path, consumers=2)
    first, second = scene.consumers

    # A fresh cluster: the operator provisions what the enforcer needs before it can start.
    output = _provision(operator_profile)
    assert f"topic created: {AUDIT_TOPIC}" in output
    assert f"topic created: {AUDIT_CHECKPOINTS_TOPIC}" in output  # the indexer's witness
    assert set(ingress_topics()) <= admin.list_topics()
    await publish(admin_connection, scene.policy())  # `bus policy apply`
    await scene.subscribe(admin_connection, first)  # `bus subscribe`

    health = EnforcerHealth(CollectorRegistry())
    config = EnforcerConfig(
        policy_dir=None,
        key_dir=scene.keys,
        pseudonym_key_file=tmp_path / "pseudonym.key",
        reload_interval_s=1.0,
    )
    log = tmp_path / "operator.log"
    stop = asyncio.Event()
    # As bus-enforcer, with its read-only broker setup (the default).
    enforcer = asyncio.create_task(run_enforcer(enforcer_connection, config, stop, health=health))
    try:
        async with operator_watch(
            scene.topics, scene.ingress_prefix, log, profile=operator_profile
        ):
            event = await scene.publish_event(admin_connection, "P-7201-0001")
            assert await wait_delivered(admin_connection, first, event, timeout_s=90)
            outcomes = [a["outcome"] for a in await audits_of(admin_connection, event, scene)]
            assert outcomes == ["PERMIT"]
            operator_log = log.read_text()
            assert f"topic created: {delivery_topic(first, PURPOSE)}" in operator_log
            assert f"ACL granted: User:{first} READ TOPIC" in operator_log

        # The operator's watch is down: a new subscription has no delivery topic yet and is held
        # back (the enforcer cannot create it); the rest of the state stays in force.
        await scene.subscribe(admin_connection, second)
        await _until(lambda: health.report().subscriptions_held_back == 1)
        assert delivery_topic(second, PURPOSE) not in admin.list_topics()
        held = await scene.publish_event(admin_connection, "P-7201-0002")
        assert await wait_delivered(admin_connection, first, held)
        decided_for = {a["consumer"] for a in await audits_of(admin_connection, held, scene)}
        assert decided_for == {first}
        assert "held back until the operator creates their topics" in caplog.text

        async with operator_watch(
            scene.topics, scene.ingress_prefix, log, profile=operator_profile
        ):
            await _until(lambda: health.report().subscriptions_held_back == 0)
            assert health.report().subscriptions == 2
            after = await scene.publish_event(admin_connection, "P-7201-0003")
            assert await wait_delivered(admin_connection, second, after)
            assert await wait_delivered(admin_connection, first, after)
        assert not enforcer.done()
        assert health.report().proceeding
    finally:
        stop.set()
        await asyncio.wait_for(enforcer, 120)

    # What only the operator may do, the broker refuses the enforcer's principal.
    as_enforcer = KafkaAdmin(enforcer_connection)
    topic = delivery_topic(unique_name("tax"), PURPOSE)
    with pytest.raises(BrokerError, match=r"(?i)authoriz"):
        as_enforcer.create_topics([topic], partitions=1)
    assert topic not in admin.list_topics()
    grab = Acl(f"User:{ENFORCER_USER}", Resource.TOPIC, AUDIT_TOPIC, Operation.READ)
    with pytest.raises(BrokerError, match=r"(?i)authoriz"):
        as_enforcer.create_acls({grab})
    revoke = Acl(f"User:{first}", Resource.TOPIC, delivery_topic(first, PURPOSE), Operation.READ)
    with pytest.raises(BrokerError, match=r"(?i)authoriz"):
        as_enforcer.delete_acls({revoke})
    acls = admin.describe_acls_of(None)
    assert grab not in acls
    assert revoke in acls
