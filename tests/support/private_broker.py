"""A second broker with its own ports and state directory, which a test may stop and start without
disturbing the session broker the other tests use."""

import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bus.devenv import broker
from bus.kafka.settings import KafkaSettings, load_kafka_settings


def free_ports(count: int) -> list[int]:
    """Ports free now, all distinct: each probe stays bound until all are chosen (one closed
    before the next bind may be handed out again, and a broker refuses two listeners on one)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port_run(count: int, attempts: int = 200) -> int:
    """The first of `count` consecutive ports free now (a cluster's nodes use port + 2(N-1) and
    controller port + 2(N-1), so they need a run)."""
    for _ in range(attempts):
        # Below Linux's ephemeral range (32768-60999), where outgoing connections take theirs.
        first = random.randrange(20_000, 32_768 - count)
        probes: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError(f"no run of {count} free ports found")


@contextmanager
def private_broker_settings(
    state_dir: Path, cache_dir: Path, **overrides: object
) -> Iterator[KafkaSettings]:
    """Start it; stop it on leaving, however the test ends (it is left down, never half up).
    `overrides` are further settings (e.g. `tls=False`)."""
    nodes = overrides.get("nodes", 1)
    assert isinstance(nodes, int)
    port = free_port_run(2 * nodes)
    settings = load_kafka_settings(
        state_dir=state_dir,
        cache_dir=cache_dir,
        port=port,
        controller_port=port + 1,
        start_timeout_s=60,
        **overrides,
    )
    try:
        broker.up(settings, say=lambda _: None)
        yield settings
    finally:
        broker.down(settings)
