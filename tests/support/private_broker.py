"""A second broker with its own ports and state directory, which a test may stop and start without
disturbing the session broker the other tests use."""

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bus.kafka import broker
from bus.kafka.settings import KafkaSettings, load_kafka_settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def private_broker_settings(state_dir: Path, cache_dir: Path) -> Iterator[KafkaSettings]:
    """Start it; stop it on leaving, however the test ends (it is left down, never half up)."""
    settings = load_kafka_settings(
        state_dir=state_dir,
        cache_dir=cache_dir,
        port=free_port(),
        controller_port=free_port(),
        start_timeout_s=60,
    )
    try:
        broker.up(settings, say=lambda _: None)
        yield settings
    finally:
        broker.down(settings)
