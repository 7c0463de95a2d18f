"""`bus enforce` as a real process, as its own principal (bus-enforcer), beside the operator's
`bus acl sync --watch` as another: a subscription made while they run starts deliveries, a grant
revoked in the policy set while events flow stops them at the switch, and SIGTERM ends both
cleanly.

On a broker of the test's own with the bus's own topics: the enforcer's and the operator's ACLs
cover exactly those names (no grant of the test's making, which the lab's `bus kafka up`, run by
any other test session, would revoke as drift), and the operator's ACL sync, which follows this
test's policy, revokes nobody's access on the shared broker.
A change is known to be in force when the enforcer's audit records say so, not its log."""

import asyncio
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from bus.catalog.population import Address
from bus.control import policy_store
from bus.control.state_reading import StateTopics
from bus.control.subscription_service import subscribe
from bus.control.topology import INGRESS_PARTITIONS
from bus.devenv import broker
from bus.envelope.codec import IssuedEvent, issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.key_partition import key_partition
from bus.kafka.settings import KafkaSettings
from bus.kafka.topics import INGRESS_PREFIX, delivery_topic, ingress_topic
from bus.keys import AgencySigningKey
from bus.policy.facts import Subscription
from bus.policy.loader import APPROVALS_FILE, load_policy_set
from bus.policy.snapshot import compile_snapshot
from tests.support.audit_tail import AuditDocument, AuditTail
from tests.support.events import address_changed
from tests.support.kafka import read_topic, unique_name
from tests.support.operator_watching import BUS, operator_watch
from tests.support.private_broker import private_broker_settings

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)
DELIVERY = delivery_topic("tax-by", "tax-residence")


@pytest.fixture
def own_broker(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[KafkaSettings]:
    """A broker of this test's own, with the bus's service principals and their profiles."""
    with private_broker_settings(tmp_path / "kafka", kafka_settings.cache_dir) as settings:
        yield settings


async def _publish(connection: KafkaConnection, issued: IssuedEvent, prefix: str) -> None:
    record = ingress_record(issued)
    topic = ingress_topic(issued.attributes.type, prefix)
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


async def _delivered(connection: KafkaConnection, event_id: str, wait_s: float) -> bool:
    for _ in range(int(wait_s)):
        if any(
            header_map(r.headers).get("ce_id") == event_id
            for r in await read_topic(connection, DELIVERY, idle_s=0.5)
        ):
            return True
        await asyncio.sleep(1)
    return False


def _about(audit: AuditDocument, event: IssuedEvent) -> bool:
    """Whether `audit` is a decision about `event` for tax-by."""
    return bool(audit["event_id"] == event.attributes.id and audit["consumer"] == "tax-by")


async def _in_force_when_decided(
    connection: KafkaConnection,
    audits: AuditTail,
    key: AgencySigningKey,
    prefix: str,
    outcome: str,
) -> None:
    """Publish probe events until the enforcer decides `outcome` for tax-by on every ingress
    partition: from then on each worker enforces the change (`bus enforce` runs one per core,
    each with its own state, swapped between batches, and each owns some of the partitions)."""
    pending = set(range(INGRESS_PARTITIONS))
    probes: dict[str, int] = {}  # event id -> its partition
    subjects = (f"P-7002-{n:04d}" for n in range(10_000))
    for _ in range(60):
        for partition in sorted(pending):
            subject = next(
                s for s in subjects if key_partition(s.encode(), INGRESS_PARTITIONS) == partition
            )
            probe = issue_event(address_changed(subject, new_address=MUNICH), key)
            await _publish(connection, probe, prefix)
            probes[probe.attributes.id] = partition
        await audits.read(wait_s=2)
        pending -= {
            probes[a["event_id"]]
            for a in audits.seen
            if a["event_id"] in probes and a["consumer"] == "tax-by" and a["outcome"] == outcome
        }
        if not pending:
            return
    pytest.fail(f"no probe event on partitions {sorted(pending)} was decided {outcome} for tax-by")


@pytest.mark.parametrize("source", ["applied", "directory"])
async def test_subscription_and_revocation_take_effect_while_running(
    own_broker: KafkaSettings, tmp_path: Path, source: str
) -> None:
    connection = broker.admin_connection(own_broker)  # the test's: `bus policy apply`, producers
    admin = KafkaAdmin(connection)
    topics, prefix = StateTopics(), INGRESS_PREFIX
    policy = tmp_path / "policy"
    shutil.copytree(REFERENCE, policy)
    (policy / APPROVALS_FILE).unlink()  # applied unsigned: approvals are tested on their own
    keys = tmp_path / "keys"
    keys.mkdir()
    muni = AgencySigningKey.generate("muni-09162000")
    (keys / "muni-09162000.pub.pem").write_bytes(muni.public_pem())
    log = tmp_path / "enforce.log"
    command = [
        *BUS,
        "enforce",
        "--profile",
        str(own_broker.profiles_dir / "enforcer.toml"),
        "--keys",
        str(keys),
        "--group",
        unique_name("bus-enforcer"),
        "--metrics-port",
        "0",
    ]
    followed = None
    if source == "directory":
        command += ["--policy", str(policy)]
        followed = policy  # the operator's watch follows the same directory
    else:  # what `bus policy apply` does
        policy_store.ensure_policy_topic(admin)
        await policy_store.publish(connection, load_policy_set(policy))
    subscription = Subscription("tax-by", "population.AddressChanged", "tax-residence")
    watch_log = tmp_path / "operator.log"
    operator = own_broker.profiles_dir / "operator.toml"
    async with operator_watch(topics, prefix, watch_log, followed, operator):
        # The enforcer waits for the topics the operator creates; the audit topic is watched from
        # its current end once it exists.
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *command, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            await _until_topic(admin, "bus.audit")
            async with AuditTail(connection) as audits:
                await _run_scenario(connection, admin, audits, muni, policy, subscription, source)
        finally:
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0, log.read_text()[-3000:]
    assert "enforcer stopped" in log.read_text()
    assert "ACL granted: User:tax-by READ TOPIC " + DELIVERY in watch_log.read_text()
    assert "ACL revoked: User:tax-by READ TOPIC " + DELIVERY in watch_log.read_text()


async def _until_topic(admin: KafkaAdmin, topic: str) -> None:
    for _ in range(240):
        if topic in admin.list_topics():
            return
        await asyncio.sleep(0.25)
    pytest.fail(f"{topic} was not created")


async def _run_scenario(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    audits: AuditTail,
    muni: AgencySigningKey,
    policy: Path,
    subscription: Subscription,
    source: str,
) -> None:
    prefix = INGRESS_PREFIX
    snapshot = compile_snapshot(load_policy_set(policy))
    decision = await subscribe(connection, admin, snapshot, subscription, datetime.now(UTC))
    assert decision.permitted
    # The subscription is in force once a probe event is decided PERMIT for tax-by.
    await _in_force_when_decided(connection, audits, muni, prefix, "PERMIT")

    before = issue_event(address_changed("P-7001-0001", new_address=MUNICH), muni)
    await _publish(connection, before, prefix)
    assert await _delivered(connection, before.attributes.id, wait_s=30)

    grants = policy / "grants.yaml"
    grants.write_text(
        grants.read_text().replace(
            "  - id: tax-by-address\n",
            "  - id: tax-by-address-revoked\n    valid_until: 2026-02-01T00:00:00Z\n",
            1,
        )
    )
    if source == "applied":
        await policy_store.publish(connection, load_policy_set(policy))
    # The revocation is in force once a probe event is decided DENY for tax-by.
    await _in_force_when_decided(connection, audits, muni, prefix, "DENY")
    after = issue_event(address_changed("P-7001-0002", new_address=MUNICH), muni)
    await _publish(connection, after, prefix)
    assert not await _delivered(connection, after.attributes.id, wait_s=8)
    await audits.wait_for(lambda a: _about(a, after))
    verdicts = {a["outcome"] for a in audits.seen if _about(a, after)}
    assert verdicts == {"DENY"}
    # The operator's watch follows the revocation too: tax-by's READ goes (within a pass or two).
    read = f"User:tax-by READ TOPIC {DELIVERY}"
    for _ in range(60):
        if not any(str(a.name) == DELIVERY for a in admin.describe_acls_of("User:tax-by")):
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"{read} was not revoked by the operator's watch")
