"""The webhook bridge on the real broker, against the reference receiver on a real HTTP server:
every delivery arrives once however often it is POSTed (retries after 500s, timeouts, an outage,
redeliveries after kill -9); a 4xx is dead-lettered at once with its status, the retry bound with
the last one; a forged delivery is dead-lettered and never POSTed."""

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client import CollectorRegistry

from bus.bridge.bridge import WebhookBridge
from bus.bridge.bridge_key import key_paths
from bus.bridge.metrics import BridgeMetrics
from bus.bridge.poster import WebhookPoster
from bus.envelope.kafka_binding import header_map
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import write_profile
from bus.kafka.topics import consumer_group_prefix, dead_letter_topic
from bus.keys import AgencySigningKey
from bus.util.private_files import create_private
from consumers.retry import RetryPolicy
from tests.support.child_processes import ChildProcesses
from tests.support.deliveries import PURPOSE, BackOfficeBus, back_office_bus, moved_to_munich
from tests.support.kafka import Principals, consume_one, eventually, read_topic
from tests.support.private_broker import free_ports
from tests.support.webhook_receiver import Fault, Receiver, running_receiver


@pytest.fixture
async def bus(
    principals: Principals, kafka_admin: KafkaAdmin, kafka_broker: KafkaConnection
) -> BackOfficeBus:
    bus = back_office_bus(principals, kafka_admin, kafka_broker)
    await bus.write(bus.deliveries([moved_to_munich()]))  # one to probe the ACLs with
    await eventually(partial(consume_one, bus.connection, bus.topic, f"{bus.consumer}.probe"))
    return bus


@pytest.fixture
def bridge_key(bus: BackOfficeBus) -> AgencySigningKey:
    return AgencySigningKey.generate(bus.consumer)


@asynccontextmanager
async def bridging(
    bus: BackOfficeBus,
    url: str,
    bridge_key: AgencySigningKey,
    attempts: int = 6,
    timeout_s: float = 5.0,
) -> AsyncIterator[Callable[[Callable[[], bool]], Awaitable[None]]]:
    """Run a bridge in this process; yields `until(condition)`, which waits for it (60 s)."""
    stop = asyncio.Event()
    metrics = BridgeMetrics(CollectorRegistry())
    retry = RetryPolicy(attempts, first_delay_s=0.05, max_delay_s=1.0)
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        poster = WebhookPoster(client, url, bridge_key, retry, metrics)
        bridge = WebhookBridge(bus.consumer, bus.connection, bus.keys, [PURPOSE], poster, metrics)
        task = asyncio.create_task(bridge.run(stop))

        async def until(done: Callable[[], bool]) -> None:
            for _ in range(600):
                if done():
                    return
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
            pytest.fail(f"timed out: {bridge.stats}")

        try:
            yield until
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def parked(bus: BackOfficeBus) -> list[dict[str, str]]:
    return [
        header_map(r.headers)
        for r in await read_topic(bus.connection, dead_letter_topic(bus.consumer))
    ]


async def test_each_delivery_is_stored_once_however_often_it_comes(
    bus: BackOfficeBus, bridge_key: AgencySigningKey, tmp_path: Path
) -> None:
    records = bus.deliveries([moved_to_munich() for _ in range(5)])
    await bus.write(records + records[:2])  # the first two arrive twice
    with running_receiver(tmp_path / "r.db", bridge_key, bus.producer_key) as receiver:
        async with bridging(bus, receiver.url, bridge_key) as until:
            await until(lambda: receiver.rows()[2] == 8)
        assert receiver.rows() == (6, 6, 8)  # the probe and 5; 2 POSTs were duplicates
    assert await parked(bus) == []


async def test_an_outage_500s_and_timeouts_are_retried_until_delivered(
    bus: BackOfficeBus, bridge_key: AgencySigningKey, tmp_path: Path
) -> None:
    person = moved_to_munich().subject_id  # one partition: the faults meet requests in order
    await bus.write(bus.deliveries([moved_to_munich(person) for _ in range(4)]))
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}/"
    async with bridging(bus, url, bridge_key, attempts=12, timeout_s=0.5) as until:
        await asyncio.sleep(2)  # the receiver is down: connection refused, retried
        with running_receiver(tmp_path / "r.db", bridge_key, bus.producer_key, port) as receiver:
            receiver.faults += [Fault(500), Fault(503), Fault(429), Fault(delay_s=1.5)]
            await until(lambda: receiver.rows()[0] == 5)
            await asyncio.sleep(1)
            stored, distinct, posts = receiver.rows()
    assert (stored, distinct) == (5, 5)
    assert posts >= 6  # the slow one was stored, timed out at the bridge, and POSTed again
    assert await parked(bus) == []


async def test_a_4xx_is_dead_lettered_at_once_and_the_retry_bound_with_its_status(
    bus: BackOfficeBus, bridge_key: AgencySigningKey, tmp_path: Path
) -> None:
    person = moved_to_munich().subject_id
    await bus.write(bus.deliveries([moved_to_munich(person) for _ in range(3)]))
    with running_receiver(tmp_path / "r.db", bridge_key, bus.producer_key) as receiver:
        # The probe is delivered; the next one is refused; the next fails three times.
        receiver.faults += [Fault(delay_s=0), Fault(422), Fault(502), Fault(502), Fault(502)]
        async with bridging(bus, receiver.url, bridge_key, attempts=3) as until:
            await until(lambda: receiver.rows()[0] == 2)
        assert receiver.rows() == (2, 2, 2)
    reasons = {h["bus_deadletter_reason"]: h for h in await parked(bus)}
    assert reasons.keys() == {"WEBHOOK_REFUSED", "WEBHOOK_FAILED"}
    refused, failed = reasons["WEBHOOK_REFUSED"], reasons["WEBHOOK_FAILED"]
    assert refused["bus_deadletter_detail"].startswith("HTTP 422 Unprocessable")
    assert refused["bus_deadletter_attempts"] == "1"
    assert failed["bus_deadletter_detail"].startswith("HTTP 502 Bad Gateway")
    assert failed["bus_deadletter_attempts"] == "3"
    assert refused["bus_purpose"] == PURPOSE  # the original headers are kept


async def test_a_forged_delivery_is_dead_lettered_and_never_posted(
    bus: BackOfficeBus, bridge_key: AgencySigningKey, tmp_path: Path
) -> None:
    good, forged = bus.deliveries([moved_to_munich() for _ in range(2)])
    payload, _, _ = forged.value.decode().partition("~")
    forged = replace(forged, value=f"{payload}~{good.value.decode().split('~', 1)[1]}".encode())
    await bus.write([forged, good])
    with running_receiver(tmp_path / "r.db", bridge_key, bus.producer_key) as receiver:
        async with bridging(bus, receiver.url, bridge_key) as until:
            await until(lambda: receiver.rows()[0] == 2)
            await asyncio.sleep(1)  # time enough to POST the forged one too, were it sent
        assert (receiver.rows(), receiver.requests) == ((2, 2, 2), 2)
    assert [h["bus_deadletter_reason"] for h in await parked(bus)] == ["DIGEST_MISMATCH"]


@pytest.mark.slow
async def test_kill_9_mid_batch_then_restart_applies_each_delivery_once(
    bus: BackOfficeBus,
    bridge_key: AgencySigningKey,
    kafka_admin: KafkaAdmin,
    tmp_path: Path,
    children: ChildProcesses,
) -> None:
    events = 1_200
    await bus.write(bus.deliveries([moved_to_munich() for _ in range(events - 1)]))
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "muni-muc.pub.pem").write_bytes(bus.producer_key.public_pem())
    key_file = key_paths(bus.consumer, tmp_path)[0]
    create_private(key_file, bridge_key.private_pem())
    profile = tmp_path / "profile.toml"
    write_profile(profile, bus.connection, tmp_path / "password")
    group = f"{consumer_group_prefix(bus.consumer)}webhook-bridge"
    log = tmp_path / "bridge.log"
    with running_receiver(tmp_path / "r.db", bridge_key, bus.producer_key) as receiver:
        command = [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "bridge",
            "webhook",
            bus.consumer,
            "--url",
            receiver.url,
            "--purpose",
            PURPOSE,
            "--key",
            str(key_file),
            "--keys",
            str(keys),
            "--profile",
            str(profile),
            "--log-format",
            "text",
        ]

        def start() -> "subprocess.Popen[bytes]":
            with log.open("ab") as out:
                return children.track(
                    subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
                )

        def ahead(receiver: Receiver) -> int:
            """Deliveries stored beyond the group's committed offsets (read first: they grow)."""
            committed = sum(kafka_admin.committed_offsets(group).values())
            return receiver.rows()[0] - committed if committed else 0

        process = start()
        for _ in range(2):
            for _ in range(3000):
                if ahead(receiver) >= 5:
                    break
                assert process.poll() is None, log.read_text()[-3000:]
                await asyncio.sleep(0.005)
            process.kill()
            process.wait()
            assert receiver.rows()[0] < events, "finished before the kill: raise events"
            process = start()
        for _ in range(1200):
            if receiver.rows()[0] >= events:
                break
            assert process.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # a delivery stored twice would show by now
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-3000:]
        stored, distinct, posts = receiver.rows()
    assert (stored, distinct) == (events, events)
    assert posts > events  # POSTed but uncommitted at a kill: POSTed again, stored once
    assert "stopped" in log.read_text()
