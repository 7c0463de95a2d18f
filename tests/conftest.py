"""Fixtures shared by all tests. Broker fixtures start the real broker through `bus kafka up`'s code."""

import logging
import os
from collections.abc import Callable, Iterator

import pytest

from bus.devenv import broker
from bus.devenv.postgres import up as postgres_up
from bus.errors import BusError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings, load_kafka_settings
from bus.kafka.topics import SEEN_EVENTS_PREFIX
from tests.support.kafka import Principals, unique_name


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """A command run in-process calls `configure_logging`, which points the root logger at the
    stderr of that moment; later tests would log into a closed stream. Restore it afterwards."""
    root, kafka_client = logging.getLogger(), logging.getLogger("aiokafka")
    handlers, level, kafka_level = root.handlers[:], root.level, kafka_client.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    kafka_client.setLevel(kafka_level)


@pytest.fixture(scope="session")
def kafka_settings() -> KafkaSettings:
    return load_kafka_settings()


@pytest.fixture(scope="session")
def kafka_broker(kafka_settings: KafkaSettings) -> Iterator[KafkaConnection]:
    """The admin connection to a running broker: the one already up, or one started here.

    A broker that cannot start fails the test run; it never turns integration tests into skips.
    A broker started here is stopped at the end unless BUS_TEST_KEEP_BROKER=1.
    """
    started_here = broker.broker_pid(kafka_settings) is None
    try:
        broker.up(kafka_settings, say=lambda line: print(line))
    except BusError as exc:
        pytest.fail(f"the Kafka broker could not be started: {exc}", pytrace=False)
    yield broker.admin_connection(kafka_settings)
    if started_here and os.environ.get("BUS_TEST_KEEP_BROKER") != "1":
        broker.down(kafka_settings)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The project's own PostgreSQL (`bus postgres up`): started here if needed, left running.
    A server that cannot start fails the tests that need it; they never turn into skips."""
    try:
        return postgres_up(say=lambda line: print(line))
    except BusError as exc:
        pytest.fail(f"PostgreSQL could not be started: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def kafka_admin(kafka_broker: KafkaConnection) -> KafkaAdmin:
    return KafkaAdmin(kafka_broker)


@pytest.fixture
def topic_factory(
    kafka_admin: KafkaAdmin, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """Creates topics named after the test with a unique suffix; deletes them afterwards."""
    created: list[str] = []

    def create(purpose: str = "t", partitions: int = 1, name: str | None = None) -> str:
        name = name or unique_name(f"{request.node.name}-{purpose}")
        kafka_admin.create_topics([name], partitions=partitions)
        created.append(name)
        return name

    yield create
    if created:
        # An enforcer run on a created topic keeps its accepted event ids in a journal beside it.
        journals = [
            t
            for t in kafka_admin.list_topics()
            if t.startswith(SEEN_EVENTS_PREFIX) and t.endswith(tuple(f".{c}" for c in created))
        ]
        kafka_admin.delete_topics(created + journals)


@pytest.fixture
def ingress_prefix(kafka_admin: KafkaAdmin, request: pytest.FixtureRequest) -> Iterator[str]:
    """A prefix for ingress topics of the test's own (`<prefix><event type>`, created by an
    enforcer told `ingress_prefix`): the bus's ingress topics on the shared broker stay as they
    are. Afterwards those topics and the enforcer's journals of them are deleted."""
    prefix = unique_name(f"{request.node.name}-ingress") + "."
    yield prefix
    ours = [
        t
        for t in kafka_admin.list_topics()
        if t.startswith(prefix) or (t.startswith(SEEN_EVENTS_PREFIX) and f".{prefix}" in t)
    ]
    if ours:
        kafka_admin.delete_topics(ours)


@pytest.fixture
def principals(kafka_admin: KafkaAdmin, kafka_broker: KafkaConnection) -> Iterator[Principals]:
    registry = Principals(kafka_admin, kafka_broker)
    yield registry
    registry.cleanup()
