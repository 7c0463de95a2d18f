"""What TLS costs the enforcer: the enforcer benchmark's throughput run (benchmarks/enforcer.py)
against two private brokers started here, one in plaintext (BUS_KAFKA_TLS=0) and one with TLS,
alternating between them so that drift on a shared machine hits both alike.

    .venv/bin/python -m benchmarks.tls_cost [--events 5000] [--rounds 2]

Both brokers run for the whole measurement (each idle while the other is measured); each gets its
own ports and a temporary state directory, and both are stopped at the end. Prints events/s of the
enforcer and of the raw pass-through (same I/O, no work) for each broker, and TLS / plaintext; and
the CPU seconds the broker and the client (enforcer + publisher) spend per 1,000 events, which
other load on a shared machine distorts less than events/s.
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.cpu import process_cpu_s
from benchmarks.enforcer import PARTITIONS, TYPE, passthrough_like, records, throughput
from bus.control.topology import ensure_bus_topics
from bus.devenv import broker
from bus.enforcer.pipeline import EnforcerState, InRecord, Outcome, process
from bus.envelope.kafka_binding import KafkaRecord
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import load_kafka_settings
from bus.keys import AgencySigningKey
from bus.policy.facts import Subscription
from tests.support.enforcer_process import state_for
from tests.support.kafka import unique_name
from tests.support.private_broker import private_broker_settings


@dataclass
class Lab:
    """One private broker, the bus topics the benchmark needs on it, and its results."""

    name: str
    connection: KafkaConnection
    admin: KafkaAdmin
    broker_pid: int
    enforcer: list[float] = field(default_factory=list)
    passthrough: list[float] = field(default_factory=list)
    # CPU seconds per 1,000 events of an enforcer run (publishing included), broker and client:
    # less at the mercy of other load on a shared machine than events/s.
    broker_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)


def _prepare(lab: Lab, consumers: list[str]) -> None:
    ensure_bus_topics(
        lab.admin, [Subscription(c, TYPE, "tax") for c in consumers], partitions=PARTITIONS
    )


async def _round(lab: Lab, state: EnforcerState, batch: list[KafkaRecord], sample: Outcome) -> None:
    stand_ins = {t: unique_name("bench-out") for t in {r.topic for r in sample.records}}
    lab.admin.create_topics(stand_ins.values(), partitions=PARTITIONS)
    try:
        lab.passthrough.append(
            await throughput(
                lab.connection, lab.admin, state, batch, passthrough_like(sample, stand_ins)
            )
        )
    finally:
        lab.admin.delete_topics(stand_ins.values())
    broker_before, client_before = process_cpu_s(lab.broker_pid), time.process_time()
    lab.enforcer.append(await throughput(lab.connection, lab.admin, state, batch, process))
    per_thousand = 1000 / len(batch)
    lab.broker_cpu.append((process_cpu_s(lab.broker_pid) - broker_before) * per_thousand)
    lab.client_cpu.append((time.process_time() - client_before) * per_thousand)
    print(
        f"  {lab.name:9} pass-through {lab.passthrough[-1]:7.0f} events/s,"
        f" enforcer {lab.enforcer[-1]:7.0f} events/s, CPU per 1,000 events: broker"
        f" {lab.broker_cpu[-1]:.2f} s, client {lab.client_cpu[-1]:.2f} s",
        flush=True,
    )


async def measure(labs: list[Lab], events: int, rounds: int) -> None:
    """Sign the events once, then run `rounds` alternating rounds on every lab."""
    key = AgencySigningKey.generate("muni-muc")
    consumers = [unique_name(f"bench-{i}") for i in range(4)]
    state = state_for(
        {
            "consumers": consumers,
            "producer": "muni-muc",
            "producer_public_pem": key.public_pem().decode(),
        }
    )
    for lab in labs:
        _prepare(lab, consumers)
    print(f"signing {events} events …", flush=True)
    batch = records(key, events)
    first = batch[0]
    sample = process(
        InRecord(first.topic, 0, 0, first.key, first.value, first.headers),
        state,
        datetime.now(UTC),
    )
    for number in range(1, rounds + 1):
        print(f"round {number} of {rounds}", flush=True)
        # Alternate which lab goes first, so neither always runs on a warmer machine.
        for lab in labs if number % 2 else reversed(labs):
            await _round(lab, state, batch, sample)


def main() -> None:
    """Start both brokers, measure, stop them, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cache_dir = load_kafka_settings().cache_dir
    with tempfile.TemporaryDirectory(prefix="tls-cost-") as scratch, ExitStack() as brokers:
        labs: list[Lab] = []
        for name, tls in (("plaintext", False), ("TLS", True)):
            print(f"starting the {name} broker …", flush=True)
            settings = brokers.enter_context(
                private_broker_settings(Path(scratch) / name, cache_dir, tls=tls)
            )
            connection = broker.admin_connection(settings)
            assert connection.security_protocol == ("SASL_SSL" if tls else "SASL_PLAINTEXT")
            pid = broker.broker_pid(settings)
            assert pid is not None
            labs.append(Lab(name, connection, KafkaAdmin(connection), pid))
        asyncio.run(measure(labs, args.events, args.rounds))
    plain, tls_lab = labs
    print(f"\n{args.events} events per run, {args.rounds} runs each (median):")
    for what in ("passthrough", "enforcer"):
        clear = statistics.median(getattr(plain, what))
        encrypted = statistics.median(getattr(tls_lab, what))
        print(
            f"{what:12} plaintext {clear:7.0f} events/s  TLS {encrypted:7.0f} events/s"
            f"  TLS/plaintext {encrypted / clear:.2f}  (cost {100 * (1 - encrypted / clear):.0f} %)"
        )
    for what in ("broker_cpu", "client_cpu"):
        clear = statistics.median(getattr(plain, what))
        encrypted = statistics.median(getattr(tls_lab, what))
        print(
            f"{what:12} plaintext {clear:5.2f} s  TLS {encrypted:5.2f} s per 1,000 events"
            f"  TLS/plaintext {encrypted / clear:.2f}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
