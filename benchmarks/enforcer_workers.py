"""The enforcer as `bus enforce --workers N` runs it: N processes in one consumer group, measured
from outside (the group's committed offsets, each process's CPU and memory from /proc).

Each worker is `tests.support.enforcer_process` (the crash tests' enforcer: one `Enforcer` with the
benchmark's policy, stopped by SIGTERM). The group is first let settle on an empty topic, so the
measured window holds no join or rebalance; then the events arrive in one burst from a fast
librdkafka producer and the window runs from the group's first commit to its last.
"""

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupState, Producer
from confluent_kafka.admin import AdminClient

from benchmarks.cpu import process_cpu_s
from bus.envelope.kafka_binding import KafkaRecord
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from tests.support.kafka import unique_name

SETTLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class WorkersRun:
    events_per_s: float
    worker_cpu_us: float  # per event, all workers together (their client threads included)
    broker_cpu_us: float | None  # per event; None when the broker's pid is unknown
    rss_mb: float  # the largest worker's resident memory at the end


def start_workers(
    config: dict[str, Any], workers: int, directory: Path
) -> list[subprocess.Popen[bytes]]:
    """`workers` enforcer processes on `config` (tests/support/enforcer_process.py's keys)."""
    path = directory / f"{config['group']}.json"
    path.write_text(json.dumps(config))
    with _log(directory, config["group"]).open("ab") as log:  # each child keeps its own copy
        return [
            subprocess.Popen(
                [sys.executable, "-m", "tests.support.enforcer_process", str(path), f"w{i}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for i in range(workers)
        ]


def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def wait_until_settled(connection: KafkaConnection, group: str, members: int) -> None:
    """Until the group is stable with `members` members that each hold partitions."""
    client = AdminClient(connection.confluent_config())
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        description = client.describe_consumer_groups([group])[group].result(30)
        holding = [m for m in description.members if m.assignment.topic_partitions]
        if description.state == ConsumerGroupState.STABLE and len(holding) == members:
            return
        time.sleep(0.2)
    raise TimeoutError(f"group {group} did not settle with {members} members")


def burst(connection: KafkaConnection, topic: str, batch: list[KafkaRecord]) -> None:
    """Publish `batch` as fast as librdkafka will (idempotent, acks=all)."""
    producer = Producer(
        {
            **connection.confluent_config(),
            "enable.idempotence": True,
            "linger.ms": 20,
            # Kafka's default partitioner (the Java client's, aiokafka's): the enforcer
            # quarantines a record that is not on its key's murmur2 partition.
            "partitioner": "murmur2_random",
        }
    )
    for r in batch:
        while True:
            try:
                producer.produce(topic, r.value, r.key, headers=list(r.headers))
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)
    if producer.flush(60):
        raise RuntimeError(f"could not publish to {topic} within 60 s")


def measure_workers(
    connection: KafkaConnection,
    admin: KafkaAdmin,
    config: dict[str, Any],
    batch: list[KafkaRecord],
    workers: int,
    partitions: int,
    broker_pid: int | None,
    directory: Path,
) -> WorkersRun:
    """Throughput, CPU and memory of `workers` processes enforcing `batch` (config without its
    ingress and group: this run's own are added)."""
    topic, group = unique_name("bench-ingress"), unique_name("bench-workers")
    admin.create_topics([topic], partitions=partitions)
    processes = start_workers({**config, "ingress": topic, "group": group}, workers, directory)
    try:
        wait_until_settled(connection, group, workers)
        burst(connection, topic, batch)
        first = _committed(admin, group)
        while first == 0:
            time.sleep(0.01)
            first = _committed(admin, group)
        started = time.perf_counter()
        cpu_before = [process_cpu_s(p.pid) for p in processes]
        broker_before = process_cpu_s(broker_pid) if broker_pid else 0.0
        done = first
        while done < len(batch):
            _check_alive(processes, directory, group)
            time.sleep(0.01)
            done = _committed(admin, group)
        elapsed = time.perf_counter() - started
        worker_s = sum(process_cpu_s(p.pid) for p in processes) - sum(cpu_before)
        broker_s = process_cpu_s(broker_pid) - broker_before if broker_pid else None
        rss_mb = max(_rss_mb(p.pid) for p in processes)
    finally:
        stop_workers(processes)
        admin.delete_topics([topic])
    # Every event is valid: one set aside would make the run cheaper than enforcing it.
    quarantined = _log(directory, group).read_text(errors="replace").count("event quarantined")
    if quarantined:
        raise RuntimeError(f"{quarantined} events were quarantined; see {_log(directory, group)}")
    events = len(batch) - first
    return WorkersRun(
        events / elapsed,
        1e6 * worker_s / events,
        None if broker_s is None else 1e6 * broker_s / events,
        rss_mb,
    )


def _committed(admin: KafkaAdmin, group: str) -> int:
    return sum(admin.committed_offsets(group).values())


def _log(directory: Path, group: str) -> Path:
    return directory / f"{group}.log"


def _check_alive(processes: list[subprocess.Popen[bytes]], directory: Path, group: str) -> None:
    if any(p.poll() is not None for p in processes):
        log = _log(directory, group).read_text(errors="replace")[-3000:]
        raise RuntimeError(f"an enforcer worker exited; its log:\n{log}")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
