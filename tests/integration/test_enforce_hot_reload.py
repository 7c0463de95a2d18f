"""`bus enforce` as a real process: a subscription made while it runs starts deliveries, a grant
revoked in the policy set while events flow stops them at the switch, and SIGTERM ends it cleanly.

It follows a policy topic, a subscriptions registry and ingress topics of the test's own
(--policy-topic, --subscriptions-topic, --ingress-prefix): the shared broker's policy in force, its
subscriptions and its ingress topics stay untouched. Its audit records and deliveries go to the
bus's topics (read by this test's ids), and its ACL sync follows this test's policy.
A change is known to be in force when the enforcer's audit records say so, not its log."""

import asyncio
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from bus.catalog.population import Address
from bus.control import policy_store
from bus.control.subscription_service import subscribe
from bus.control.topology import ensure_audit_topic
from bus.envelope.codec import IssuedEvent, issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import delivery_topic, ingress_topic
from bus.keys import AgencySigningKey
from bus.policy.facts import Subscription
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot
from tests.support.audit_tail import AuditDocument, AuditTail
from tests.support.events import address_changed
from tests.support.kafka import read_topic, unique_name

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)
DELIVERY = delivery_topic("tax-by", "tax-residence")


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
    """Publish probe events until the enforcer decides one `outcome` for tax-by: from then on the
    state it enforces holds the change (the state swaps between batches, for every partition)."""
    probes: set[str] = set()
    for n in range(60):
        probe = issue_event(address_changed(f"P-7002-{n:04d}", new_address=MUNICH), key)
        await _publish(connection, probe, prefix)
        probes.add(probe.attributes.id)
        await audits.read(wait_s=2)
        if any(
            a["event_id"] in probes and a["consumer"] == "tax-by" and a["outcome"] == outcome
            for a in audits.seen
        ):
            return
    pytest.fail(f"none of {len(probes)} probe events was decided {outcome} for tax-by")


@pytest.mark.parametrize("source", ["applied", "directory"])
async def test_subscription_and_revocation_take_effect_while_running(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: Callable[..., str],
    ingress_prefix: str,
    tmp_path: Path,
    source: str,
) -> None:
    policy_topic, registry = topic_factory("policy"), topic_factory("subscriptions")
    policy = tmp_path / "policy"
    shutil.copytree(REFERENCE, policy)
    keys = tmp_path / "keys"
    keys.mkdir()
    muni = AgencySigningKey.generate("muni-09162000")
    (keys / "muni-09162000.pub.pem").write_bytes(muni.public_pem())
    log = tmp_path / "enforce.log"
    command = [
        sys.executable,
        "-c",
        "from bus.cli.main import main; main()",
        "enforce",
        "--keys",
        str(keys),
        "--group",
        unique_name("enforcer"),
        "--metrics-port",
        "0",
        "--policy-topic",
        policy_topic,
        "--subscriptions-topic",
        registry,
        "--ingress-prefix",
        ingress_prefix,
    ]
    if source == "directory":
        command += ["--policy", str(policy)]
    else:  # what `bus policy apply` does
        await policy_store.publish(kafka_broker, load_policy_set(policy), policy_topic)
    subscription = Subscription("tax-by", "population.AddressChanged", "tax-residence")
    ensure_audit_topic(kafka_admin)  # watched from its current end, before the enforcer starts
    async with AuditTail(kafka_broker) as audits:
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *command, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            snapshot = compile_snapshot(load_policy_set(policy))
            decision = await subscribe(
                kafka_broker, kafka_admin, snapshot, subscription, datetime.now(UTC), registry
            )
            assert decision.permitted
            # The subscription is in force once a probe event is decided PERMIT for tax-by.
            await _in_force_when_decided(kafka_broker, audits, muni, ingress_prefix, "PERMIT")

            before = issue_event(address_changed("P-7001-0001", new_address=MUNICH), muni)
            await _publish(kafka_broker, before, ingress_prefix)
            assert await _delivered(kafka_broker, before.attributes.id, wait_s=30)

            grants = policy / "grants.yaml"
            grants.write_text(
                grants.read_text().replace(
                    "  - id: tax-by-address\n",
                    "  - id: tax-by-address-revoked\n    valid_until: 2026-02-01T00:00:00Z\n",
                    1,
                )
            )
            if source == "applied":
                await policy_store.publish(kafka_broker, load_policy_set(policy), policy_topic)
            # The revocation is in force once a probe event is decided DENY for tax-by.
            await _in_force_when_decided(kafka_broker, audits, muni, ingress_prefix, "DENY")
            after = issue_event(address_changed("P-7001-0002", new_address=MUNICH), muni)
            await _publish(kafka_broker, after, ingress_prefix)
            assert not await _delivered(kafka_broker, after.attributes.id, wait_s=8)
            await audits.wait_for(lambda a: _about(a, after))
            verdicts = {a["outcome"] for a in audits.seen if _about(a, after)}
            assert verdicts == {"DENY"}
        finally:
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0, log.read_text()[-3000:]
    assert "enforcer stopped" in log.read_text()
