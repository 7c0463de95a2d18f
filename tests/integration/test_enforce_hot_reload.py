"""`bus enforce` as a real process: a subscription made while it runs starts deliveries, a grant
revoked in the policy set while events flow stops them at the switch, and SIGTERM ends it cleanly."""

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from bus.catalog.population import Address
from bus.control import policy_store, subscriptions
from bus.control.subscription_service import subscribe
from bus.control.topology import ensure_registry_topics
from bus.envelope.codec import IssuedEvent, issue_event
from bus.envelope.kafka_binding import header_map, ingress_record
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import AUDIT_TOPIC, delivery_topic
from bus.keys import AgencySigningKey
from bus.policy.facts import Subscription
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot
from tests.support.events import address_changed
from tests.support.kafka import read_topic, unique_name

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
MUNICH = Address(
    street="Leopoldstraße", house_number="1", municipality_code="09162000", country="DE"
)
DELIVERY = delivery_topic("tax-by", "tax-residence")


async def _publish(connection: KafkaConnection, issued: IssuedEvent) -> None:
    record = ingress_record(issued)
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )
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


async def _wait_for_log(log: Path, text: str, count: int, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 2)):
        content = await asyncio.to_thread(log.read_text, errors="replace")
        if content.count(text) >= count:
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"{text!r} did not appear {count}x in the enforcer log:\n{content[-3000:]}")


@pytest.mark.parametrize("source", ["applied", "directory"])
async def test_subscription_and_revocation_take_effect_while_running(
    kafka_broker: KafkaConnection, kafka_admin: KafkaAdmin, tmp_path: Path, source: str
) -> None:
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
    ]
    if source == "directory":
        command += ["--policy", str(policy)]
    else:  # what `bus policy apply` does
        policy_store.ensure_policy_topic(kafka_admin)
        await policy_store.publish(kafka_broker, load_policy_set(policy))
    subscription = Subscription("tax-by", "population.AddressChanged", "tax-residence")
    ensure_registry_topics(kafka_admin)
    await subscriptions.unregister(kafka_broker, subscription)  # start from "not subscribed"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        await _wait_for_log(log, "assigned", 1)
        snapshot = compile_snapshot(load_policy_set(policy))
        decision = await subscribe(
            kafka_broker, kafka_admin, snapshot, subscription, datetime.now(UTC)
        )
        assert decision.permitted
        await _wait_for_log(log, "state in force", 2)  # the new subscription is in force

        before = issue_event(address_changed("P-7001-0001", new_address=MUNICH), muni)
        await _publish(kafka_broker, before)
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
            await policy_store.publish(kafka_broker, load_policy_set(policy))
        await _wait_for_log(log, "state in force", 3)  # the revocation is in force
        after = issue_event(address_changed("P-7001-0002", new_address=MUNICH), muni)
        await _publish(kafka_broker, after)
        assert not await _delivered(kafka_broker, after.attributes.id, wait_s=8)
        audits = [json.loads(r.value) for r in await read_topic(kafka_broker, AUDIT_TOPIC)]
        verdicts = {
            a["outcome"]
            for a in audits
            if a["event_id"] == after.attributes.id and a["consumer"] == "tax-by"
        }
        assert verdicts == {"DENY"}
    finally:
        await subscriptions.unregister(kafka_broker, subscription)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0, log.read_text()[-3000:]
    assert "enforcer stopped" in log.read_text()
