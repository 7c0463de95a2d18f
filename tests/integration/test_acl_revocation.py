"""`bus acl sync` revokes every ACL the policy and the registry no longer justify, also of an agency
that vanished from the policy (issue 12); the bus's own principals keep theirs. Through the CLI,
on the real broker."""

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from bus.cli.main import app
from bus.control import policy_store
from bus.control.acls import describe, sync_acls
from bus.control.service_principals import INDEXER_USER
from bus.errors import ConfigError
from bus.kafka.admin import Acl, KafkaAdmin, Operation, Resource
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import delivery_topic
from bus.policy.loader import APPROVALS_FILE, load_policy_set
from bus.policy.snapshot import canonical_bytes
from tests.support.kafka import (
    AuthorizationFailed,
    Principals,
    consume_one,
    eventually,
    produce_one,
    unique_name,
)
from tests.support.operator_grants import operator_on

TYPE = "population.AddressChanged"
PURPOSE = "tax-residence"
REFERENCE = Path("policies/reference")


# A subscriber's ACLs: READ its delivery topic and group, WRITE+READ its dead letters, WRITE its
# erasures topic.
CONSUMER_ACLS = 5


def policy_with(agency: str, directory: Path, *, producer: bool = False) -> Path:
    """The reference policy set plus `agency`, a Bavarian tax office granted AddressChanged (and,
    with `producer`, an authentic source of vehicle events in Bavaria)."""
    shutil.copytree(REFERENCE, directory)
    (directory / APPROVALS_FILE).unlink()  # unsigned, as tests of ACLs apply it: no approval rules
    with (directory / "agencies.yaml").open("a") as agencies:
        agencies.write(
            f'  - id: {agency}\n    name: Newcomer\n    level: state\n    jurisdiction: "09"\n'
            f"    competences: [taxation]\n    kafka_principal: User:{agency}\n    public_keys: []\n"
        )
    with (directory / "grants.yaml").open("a") as grants:
        grants.write(
            f"  - id: {agency}-address\n    consumer: {agency}\n    event_types: [{TYPE}]\n"
            f"    purpose: {PURPOSE}\n    fields: [subject_id, new_address, effective_date]\n"
            "    territorial_rule: new_address\n    valid_from: 2026-01-01T00:00:00Z\n"
            "    approved_by: Test\n    approved_at: 2026-01-01\n"
        )
    if producer:
        with (directory / "producers.yaml").open("a") as producers:
            producers.write(
                f"  - agency: {agency}\n    event_types: [vehicles.VehicleOwnershipChanged]\n"
                '    territory: "09"\n'
            )
    return directory


def lines_about(output: str, principal: str) -> list[str]:
    return [line for line in output.splitlines() if f" {principal} " in f"{line} "]


def test_an_agency_removed_from_the_policy_loses_every_acl(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin, principals: Principals, tmp_path: Path
) -> None:
    newcomer = principals.create("newcomer")
    agency, principal = newcomer.username, f"User:{newcomer.username}"
    with_newcomer = policy_with(agency, tmp_path / "policy")
    runner = CliRunner()
    wanted = ["--consumer", agency, "--event-type", TYPE, "--purpose", PURPOSE]

    subscribed = runner.invoke(app, ["subscribe", *wanted, "--policy", str(with_newcomer)])
    assert subscribed.exit_code == 0, subscribed.output
    synced = runner.invoke(app, ["acl", "sync", "--policy", str(with_newcomer)])
    assert synced.exit_code == 0, synced.output
    granted = [line for line in lines_about(synced.output, principal) if line.startswith("+")]
    assert len(granted) == CONSUMER_ACLS, synced.output
    topic = delivery_topic(agency, PURPOSE)
    asyncio.run(produce_one(kafka_broker, topic, b"delivered by the bus"))
    asyncio.run(eventually(lambda: consume_one(newcomer, topic, group=f"{agency}.back-office")))

    # A grant by hand, outside the policy (another operation, one host), and a service's own ACL.
    by_hand = Acl(principal, Resource.TOPIC, topic, Operation.ALTER, host="127.0.0.1")
    everyone = Acl("User:*", Resource.TOPIC, topic, Operation.READ)  # any principal at all
    service_topic = unique_name("indexer-only")
    service = Acl(f"User:{INDEXER_USER}", Resource.TOPIC, service_topic, Operation.READ)
    kafka_admin.create_acls([by_hand, everyone, service])
    try:
        gone = runner.invoke(app, ["unsubscribe", *wanted])
        assert gone.exit_code == 0, gone.output
        # The policy set in force no longer names the agency at all.
        synced = runner.invoke(app, ["acl", "sync", "--policy", str(REFERENCE)])
        assert synced.exit_code == 0, synced.output
        removed = lines_about(synced.output, principal)
        assert len(removed) == CONSUMER_ACLS + 1, synced.output  # its own and one granted by hand
        assert all(line.startswith("-") for line in removed), synced.output
        assert not kafka_admin.describe_acls_of(principal)
        assert f"- {describe(everyone)}" in synced.output
        assert everyone not in kafka_admin.describe_acls_of("User:*")
        assert service in kafka_admin.describe_acls_of(f"User:{INDEXER_USER}")
    finally:
        kafka_admin.delete_acls([service])

    asyncio.run(refused_eventually(newcomer, topic))


async def refused_eventually(consumer: KafkaConnection, topic: str) -> None:
    for _ in range(20):
        try:
            await consume_one(consumer, topic, group=f"{consumer.username}.back-office-2")
        except AuthorizationFailed:
            return
    pytest.fail(f"{consumer.username} could still read {topic}")


def test_a_policy_giving_an_agency_a_service_principal_is_refused(
    kafka_admin: KafkaAdmin, principals: Principals
) -> None:
    stolen = {Acl("User:audit-indexer", Resource.TOPIC, "bus.delivery.x.y", Operation.READ)}
    leaver = f"User:{principals.create('leaver').username}"
    unjustified = Acl(leaver, Resource.TOPIC, "bus.delivery.x.y", Operation.READ)
    kafka_admin.create_acls({unjustified})
    with pytest.raises(ConfigError, match="the bus's own principal User:audit-indexer"):
        sync_acls(kafka_admin, stolen)
    assert stolen.isdisjoint(kafka_admin.describe_acls_of("User:audit-indexer"))
    # The refusal does not hold back revocation: what nothing justifies is gone all the same.
    assert unjustified not in kafka_admin.describe_acls_of(leaver)


async def apply_on(connection: KafkaConnection, topic: str, policy: Path) -> None:
    """What `bus policy apply` writes, on `topic`."""
    document = canonical_bytes(load_policy_set(policy))
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, document, key=policy_store.snapshot_key(document))
    finally:
        await producer.stop()


def test_sync_without_a_policy_follows_the_applied_set(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    principals: Principals,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    # The applied set is read from a policy topic of this test's own, so both cases run whatever
    # the shared broker's bus.policy holds; `bus acl sync` runs as the operator, granted it here.
    applied_topic = topic_factory("policy")
    with operator_on(kafka_admin, applied_topic):
        _sync_follows_the_applied_set(kafka_broker, principals, applied_topic, tmp_path)


def _sync_follows_the_applied_set(
    kafka_broker: KafkaConnection, principals: Principals, applied_topic: str, tmp_path: Path
) -> None:
    sync = ["acl", "sync", "--policy-topic", applied_topic]
    runner = CliRunner()

    # None applied: syncing to no policy would revoke every agency's access.
    refused = runner.invoke(app, sync)
    assert refused.exit_code == 1
    assert "no policy set has been applied: run `bus policy apply DIR`" in refused.output

    # A set applied that grants a newcomer its subscription: sync grants what that set allows.
    newcomer = principals.create("newcomer")
    policy = policy_with(newcomer.username, tmp_path / "policy")
    wanted = ["--consumer", newcomer.username, "--event-type", TYPE, "--purpose", PURPOSE]
    subscribed = runner.invoke(app, ["subscribe", *wanted, "--policy", str(policy)])
    assert subscribed.exit_code == 0, subscribed.output
    try:
        asyncio.run(apply_on(kafka_broker, applied_topic, policy))
        synced = runner.invoke(app, sync)
        assert synced.exit_code == 0, synced.output
        granted = lines_about(synced.output, f"User:{newcomer.username}")
        assert len(granted) == CONSUMER_ACLS, synced.output
        assert all(line.startswith("+") for line in granted), synced.output
        assert "ACLs in sync: " in synced.output
    finally:
        runner.invoke(app, ["unsubscribe", *wanted])
