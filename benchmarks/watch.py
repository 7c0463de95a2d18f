"""The oversight watch on the audit topic: its throughput against reading the topic alone (same
run, same records), its memory after a million audit records, and how long an alert takes.

    python -m benchmarks.watch [--records 1000000] [--people 100000]

Fills a fresh audit topic (6 partitions, as bus.audit) with audit records as the enforcer
writes them (a mix of consumers, producers, outcomes and `--people` distinct people, all within
the same hour, so every table holds its keys at once: the worst case for memory), then:
1. reads it with a bare aiokafka consumer (read_committed, in a group, committing) — the baseline;
2. runs `bus watch` (its own process, its own principal) from the start until its group has
   committed every record: records/s, its CPU, and its RSS (peak and at the end);
3. with the watch caught up, provokes an alert (a burst of quarantined records from a new
   source, floor + 1) five times and times the crossing record's write to the alert's arrival.
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Producer

from benchmarks.cpu import process_cpu_s
from bus.control.service_principals import WATCH_APP_ID, watch_acls
from bus.devenv import broker
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import load_kafka_settings
from bus.kafka.writing import COMPACTED
from bus.record.alert import Alert
from tests.support.audit_records import audit_document, quarantined_document
from tests.support.kafka import unique_name

PARTITIONS = 6
QUARANTINE_FLOOR = 10
WINDOW_S = 300  # the reference file's quarantine_burst window


def fill(connection: KafkaConnection, topic: str, records: int, people: int) -> float:
    """Write `records` audit records; returns seconds taken."""
    producer = Producer({**connection.confluent_config(), "linger.ms": 50, "acks": "all"})
    started = time.monotonic()
    for i in range(records):
        value = json.dumps(audit_document(i, people=people)).encode()
        while True:
            try:
                producer.produce(topic, value, key=str(i).encode())
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
        if i and i % 100_000 == 0:
            print(f"  {i:,} written", flush=True)
    producer.flush()
    return time.monotonic() - started


async def read_alone(connection: KafkaConnection, topic: str, records: int) -> float:
    """Records/s of a bare consumer in a group, committing after each fetch."""
    consumer = AIOKafkaConsumer(
        topic,
        **connection.aiokafka_kwargs(),
        group_id=unique_name("bench-read"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        done, started = 0, 0.0
        while done < records:
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            if batches and not started:
                started = time.monotonic()
            done += sum(len(b) for b in batches.values())
            await consumer.commit()
        return done / (time.monotonic() - started)
    finally:
        await consumer.stop()


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of `pid` in KiB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


async def alert_latency(
    connection: KafkaConnection, audit: str, alerts: str, runs: int = 5
) -> list[float]:
    """Seconds from writing the record that crosses the quarantine floor to reading its alert."""
    reader = AIOKafkaConsumer(
        alerts, **connection.aiokafka_kwargs(), auto_offset_reset="latest", enable_auto_commit=False
    )
    await reader.start()
    producer = Producer(connection.confluent_config())
    latencies = []
    try:
        await reader.getmany(timeout_ms=2000)  # positioned at the end
        for run in range(runs):
            # The quarantine rule's windows are tumbling (300 s): a burst across a boundary is
            # split between two windows and may not cross the floor in either.
            to_boundary = WINDOW_S - time.time() % WINDOW_S
            if to_boundary < 5:
                await asyncio.sleep(to_boundary + 0.5)
            source = f"bench.ingress.probe-{run}-{secrets.token_hex(3)}"
            values = [
                json.dumps(quarantined_document(n, source)).encode()
                for n in range(QUARANTINE_FLOOR + 1)
            ]
            for value in values[:-1]:
                producer.produce(audit, value)
            producer.flush()
            await asyncio.sleep(2.0)  # the watch has the floor's worth; the next one crosses
            sent = time.monotonic()
            producer.produce(audit, values[-1])
            producer.flush()
            while True:
                batches = await reader.getmany(timeout_ms=200)
                got = [
                    Alert.from_json_bytes(m.value or b"")
                    for b in batches.values()
                    for m in b
                    if m.value
                ]
                if any(a.subject == f"unverified@{source}" for a in got):
                    latencies.append(time.monotonic() - sent)
                    break
                if time.monotonic() - sent > 60:
                    raise RuntimeError(f"no alert for {source} after 60 s")
    finally:
        await reader.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args()
    settings = load_kafka_settings()
    connection = broker.admin_connection(settings)
    admin = KafkaAdmin(connection)
    audit, alerts = unique_name("bench-audit"), unique_name("bench-alerts")
    app_id = f"{WATCH_APP_ID}-bench-{secrets.token_hex(3)}"
    admin.create_topics([audit], partitions=PARTITIONS)
    admin.create_topics([alerts], partitions=1, config=COMPACTED)
    admin.create_acls(watch_acls(audit, alerts))
    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    thresholds = yaml.safe_load(
        (Path(__file__).parents[1] / "policies/reference/watch.yaml").read_text()
    )
    thresholds["quarantine_burst"]["floor"] = QUARANTINE_FLOOR
    (work / "watch.yaml").write_text(yaml.safe_dump(thresholds))
    process: subprocess.Popen[bytes] | None = None
    try:
        print(f"writing {args.records:,} audit records ({args.people:,} people) …", flush=True)
        seconds = fill(connection, audit, args.records, args.people)
        print(f"  written in {seconds:.1f} s", flush=True)
        print("reading the topic alone …", flush=True)
        alone = asyncio.run(read_alone(connection, audit, args.records))
        print(f"  {alone:,.0f} records/s", flush=True)
        print("running bus watch from the start …", flush=True)
        command = [
            sys.executable,
            "-c",
            "from bus.cli.main import main; main()",
            "watch",
            "--app-id",
            app_id,
            "--audit-topic",
            audit,
            "--alerts-topic",
            alerts,
            "--thresholds",
            str(work / "watch.yaml"),
            "--metrics-port",
            "0",
            "--profile",
            str(settings.profiles_dir / "watch.toml"),
            "--log-format",
            "text",
        ]
        log = (work / "watch.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        first, started, cpu_start, last_report = 0, 0.0, 0.0, time.monotonic()
        while True:
            committed = sum(
                o for (t, _), o in admin.committed_offsets(app_id).items() if t == audit
            )
            if committed and not started:
                first, started, cpu_start = committed, time.monotonic(), process_cpu_s(process.pid)
            if committed >= args.records:
                break
            if process.poll() is not None:
                raise RuntimeError(f"bus watch exited: see {work / 'watch.log'}")
            if time.monotonic() - last_report > 30:
                print(f"  {committed:,} committed", flush=True)
                last_report = time.monotonic()
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        cpu = process_cpu_s(process.pid) - cpu_start
        rate = (args.records - first) / elapsed
        rss, peak = rss_kib(process.pid)
        print(
            f"  {rate:,.0f} records/s ({rate / alone:.2f} × reading alone), "
            f"{cpu / elapsed:.2f} cores",
            flush=True,
        )
        print(
            f"  RSS after {args.records:,} records: {rss / 1024:.0f} MiB "
            f"(peak {peak / 1024:.0f} MiB)",
            flush=True,
        )
        print("alert latency (write of the crossing record → alert read) …", flush=True)
        latencies = asyncio.run(alert_latency(connection, audit, alerts))
        print(
            "  "
            + ", ".join(f"{s * 1000:.0f} ms" for s in latencies)
            + f"; median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms",
            flush=True,
        )
    finally:
        if process and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        admin.delete_topics(
            [audit, alerts, *(t for t in admin.list_topics() if t.startswith(f"{app_id}-"))]
        )
        print(f"watch log: {work / 'watch.log'}")
        os.sync()


if __name__ == "__main__":
    main()
