"""Throughput of the webhook bridge (bus/bridge) against the reference receiver, on the real
broker (start it first: `bus kafka up`).

    .venv/bin/python -m benchmarks.bridge [--deliveries 2000]

N signed deliveries (two partitions) are written to a fresh consumer's delivery topic; the bridge
reads, verifies and POSTs them to `bus bridge receiver` in its own process (which verifies them
again and commits each to SQLite). The baseline, in the same run: the same N requests, signed,
POSTed straight to a fresh receiver from two loops (one per partition), with no Kafka and no
verification at the bridge: what HTTP and the receiver alone allow.
"""

import argparse
import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx2 as httpx
from prometheus_client import CollectorRegistry

from bus.bridge.bridge import WebhookBridge
from bus.bridge.bridge_key import generate_bridge_key, load_bridge_key
from bus.bridge.metrics import BridgeMetrics
from bus.bridge.poster import WebhookPoster
from bus.bridge.webhook_request import WebhookRequest, webhook_request
from bus.devenv import broker
from bus.kafka.admin import KafkaAdmin
from bus.kafka.settings import load_kafka_settings
from bus.keys import AgencySigningKey
from consumers.delivery_check import check_delivery
from consumers.retry import RetryPolicy
from tests.support.deliveries import PURPOSE, BackOfficeBus, back_office_bus, moved_to_munich
from tests.support.kafka import Principals
from tests.support.private_broker import free_ports

RETRY = RetryPolicy(attempts=3)


def stored(database: Path) -> int:
    try:
        with sqlite3.connect(database) as db:
            return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


@contextmanager
def receiver(work: Path, name: str, bridge_public: Path) -> Iterator[tuple[str, Path]]:
    """`bus bridge receiver` in its own process: its URL and database."""
    port = free_ports(1)[0]
    database = work / f"{name}.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "bridge",
            "receiver",
            "--port",
            str(port),
            "--db",
            str(database),
            "--bridge-public-key",
            str(bridge_public),
            "--keys",
            str(work / "keys"),
        ],
    )
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/", database
    finally:
        process.terminate()
        process.wait(30)


async def baseline(
    url: str, database: Path, requests: list[WebhookRequest], key: AgencySigningKey
) -> float:
    metrics = BridgeMetrics(CollectorRegistry())
    stop = asyncio.Event()
    async with httpx.AsyncClient() as client:
        poster = WebhookPoster(client, url, key, RETRY, metrics)

        async def loop(share: list[WebhookRequest]) -> None:
            for request in share:
                await poster.post(request, stop)

        started = time.perf_counter()
        await asyncio.gather(loop(requests[0::2]), loop(requests[1::2]))
        elapsed = time.perf_counter() - started
    assert stored(database) == len(requests)
    return len(requests) / elapsed


async def bridged(
    bus: BackOfficeBus, url: str, database: Path, key: AgencySigningKey, total: int
) -> float:
    metrics = BridgeMetrics(CollectorRegistry())
    stop = asyncio.Event()
    async with httpx.AsyncClient() as client:
        poster = WebhookPoster(client, url, key, RETRY, metrics)
        bridge = WebhookBridge(bus.consumer, bus.connection, bus.keys, [PURPOSE], poster, metrics)
        task = asyncio.create_task(bridge.run(stop))
        started, first = 0.0, 0
        while (done := stored(database)) < total:
            assert not task.done(), task.exception()
            if not started and done:  # from the first stored: the group join is not throughput
                started, first = time.perf_counter(), done
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        stop.set()
        await task
    return (done - first) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2_000)
    total = parser.parse_args().deliveries
    admin_connection = broker.admin_connection(load_kafka_settings())
    admin = KafkaAdmin(admin_connection)
    principals = Principals(admin, admin_connection)
    with TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            bus = back_office_bus(principals, admin, admin_connection)
            records = bus.deliveries([moved_to_munich() for _ in range(total)])
            await bus.write(records)
            (work / "keys").mkdir()
            (work / "keys" / "muni-muc.pub.pem").write_bytes(bus.producer_key.public_pem())
            private, public = generate_bridge_key(bus.consumer, work)
            key = load_bridge_key(bus.consumer, private)
            requests = [
                webhook_request(check_delivery(r.value, r.headers, bus.keys, PURPOSE), r.headers)
                for r in records
            ]
            with receiver(work, "baseline", public) as (url, database):
                base = await baseline(url, database, requests, key)
            with receiver(work, "bridged", public) as (url, database):
                ours = await bridged(bus, url, database, key, total)
        finally:
            principals.cleanup()
    print(f"{total} deliveries, two partitions, receiver in its own process (SQLite, FULL sync)")
    print(f"baseline, signed POSTs straight to the receiver: {base:7,.0f} deliveries/s")
    print(f"bridge, Kafka → verify → signed POST → commit:  {ours:7,.0f} deliveries/s")
    print(f"ratio bridge / baseline: {ours / base:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
