"""TLS on every link of a private broker started as `bus kafka up` starts the lab's: clients that
trust the lab CA get in with either client library; a client that trusts only the system's CAs or
another CA, and a plaintext client, are refused; neither listener answers in clear; a broker whose
storage was formatted in plaintext restarts over TLS with its data."""

import asyncio
import logging
import socket
import ssl
import struct
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from bus.devenv import broker
from bus.devenv.certs import ca_cert_path, ensure_ca
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import load_profile
from bus.kafka.settings import KafkaSettings, load_kafka_settings
from tests.support.kafka import consume_one, produce_one, unique_name
from tests.support.private_broker import private_broker_settings

# librdkafka logs each refused connection; the assertions read its error callbacks instead.
_quiet = logging.getLogger("tests.broker_tls.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    state_dir = tmp_path_factory.mktemp("tls") / "kafka"
    with private_broker_settings(state_dir, load_kafka_settings().cache_dir, tls=True) as settings:
        yield settings


@pytest.fixture(scope="module")
def admin_connection(tls_broker: KafkaSettings) -> KafkaConnection:
    return broker.admin_connection(tls_broker)


@pytest.fixture(scope="module")
def topic(admin_connection: KafkaConnection) -> str:
    name = unique_name("tls")
    KafkaAdmin(admin_connection).create_topics([name], partitions=1)
    return name


def test_the_admin_connection_uses_tls_and_trusts_the_lab_ca(
    tls_broker: KafkaSettings, admin_connection: KafkaConnection
) -> None:
    assert admin_connection.security_protocol == "SASL_SSL"
    assert admin_connection.ca_file == ca_cert_path(tls_broker)


async def test_aiokafka_trusting_the_lab_ca_produces_and_consumes(
    admin_connection: KafkaConnection, topic: str
) -> None:
    await produce_one(admin_connection, topic, b"over tls with aiokafka")
    received = await consume_one(admin_connection, topic, unique_name("tls-aiokafka"))
    assert received == b"over tls with aiokafka"


def test_confluent_kafka_trusting_the_lab_ca_produces_and_consumes(
    admin_connection: KafkaConnection,
) -> None:
    name = unique_name("tls-confluent")
    KafkaAdmin(admin_connection).create_topics([name], partitions=1)
    config = admin_connection.confluent_config()
    assert config["security.protocol"] == "SASL_SSL"
    producer = Producer(config)
    producer.produce(name, b"over tls with librdkafka")
    assert producer.flush(30) == 0
    consumer = Consumer(
        {**config, "group.id": unique_name("tls-confluent"), "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([name])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None
        assert message.error() is None
        assert message.value() == b"over tls with librdkafka"
    finally:
        consumer.close()


def test_a_service_profile_written_by_up_connects_over_tls(tls_broker: KafkaSettings) -> None:
    enforcer = load_profile("enforcer", tls_broker.profiles_dir / "enforcer.toml")
    assert enforcer.security_protocol == "SASL_SSL"
    assert enforcer.ca_file == ca_cert_path(tls_broker)
    assert _librdkafka_errors(enforcer) == []


async def test_a_client_trusting_only_the_system_cas_is_refused(
    admin_connection: KafkaConnection, caplog: pytest.LogCaptureFixture
) -> None:
    system_only = replace(admin_connection, ca_file=None)
    with caplog.at_level(logging.ERROR), pytest.raises(KafkaConnectionError):
        await _start_producer(system_only)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert any("certificate verify failed" in e for e in _librdkafka_errors(system_only))


async def test_a_client_trusting_another_ca_is_refused(
    admin_connection: KafkaConnection,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = load_kafka_settings(state_dir=tmp_path / "other-lab")
    ensure_ca(other)
    stranger = replace(admin_connection, ca_file=ca_cert_path(other))
    with caplog.at_level(logging.ERROR), pytest.raises(KafkaConnectionError):
        await _start_producer(stranger)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert any("certificate verify failed" in e for e in _librdkafka_errors(stranger))


async def test_a_plaintext_client_on_the_tls_port_is_refused(
    admin_connection: KafkaConnection,
) -> None:
    plaintext = replace(admin_connection, security_protocol="SASL_PLAINTEXT", ca_file=None)
    with pytest.raises(KafkaConnectionError):
        await _start_producer(plaintext)
    assert _librdkafka_errors(plaintext) != []


@pytest.mark.parametrize("listener", ["client", "controller"])
def test_neither_listener_answers_a_kafka_request_in_clear(
    tls_broker: KafkaSettings, listener: str
) -> None:
    port = tls_broker.port if listener == "client" else tls_broker.controller_port
    # ApiVersions v0 in clear, as any plaintext client (SASL or not) opens its connection.
    client_id = b"plain"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    with socket.create_connection((tls_broker.host, port), timeout=10) as raw:
        raw.sendall(struct.pack(">i", len(body)) + body)
        try:
            reply = raw.recv(4096)
        except ConnectionResetError:
            reply = b""
    # A Kafka answer starts with its length and the correlation id 1; TLS sends at most an alert.
    assert reply[4:8] != struct.pack(">i", 1)
    assert reply == b"" or reply[0] == 0x15  # nothing, or a TLS alert record


@pytest.mark.parametrize("listener", ["client", "controller"])
def test_both_listeners_present_the_node_certificate(
    tls_broker: KafkaSettings, listener: str
) -> None:
    port = tls_broker.port if listener == "client" else tls_broker.controller_port
    context = ssl.create_default_context(cafile=ca_cert_path(tls_broker))
    with (
        socket.create_connection((tls_broker.host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=tls_broker.host) as tls,
    ):
        certificate = tls.getpeercert()
        assert certificate is not None
        assert ((("commonName", "kafka-node-1"),)) in certificate["subject"]


def test_the_controller_listener_refuses_a_plaintext_sasl_client(
    tls_broker: KafkaSettings, admin_connection: KafkaConnection
) -> None:
    config = {
        **admin_connection.confluent_config(),
        "bootstrap.servers": f"{tls_broker.host}:{tls_broker.controller_port}",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
    }
    for key in ("ssl.ca.location", "ssl.endpoint.identification.algorithm"):
        config.pop(key, None)
    errors = _librdkafka_errors(config)
    assert errors != []
    assert not any("Authentication" in e for e in errors)  # no SASL exchange ever began


@pytest.mark.slow
async def test_a_broker_formatted_in_plaintext_restarts_over_tls_with_its_data(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "kafka"
    cache_dir = load_kafka_settings().cache_dir
    name = unique_name("before-tls")
    with private_broker_settings(state_dir, cache_dir, tls=False) as plain:
        clear = broker.admin_connection(plain)
        assert clear.security_protocol == "SASL_PLAINTEXT"
        KafkaAdmin(clear).create_topics([name], partitions=1)
        await produce_one(clear, name, b"written before tls")
    assert not (state_dir / "tls").exists()
    with private_broker_settings(state_dir, cache_dir, tls=True) as encrypted:
        connection = broker.admin_connection(encrypted)
        assert connection.security_protocol == "SASL_SSL"
        assert (
            await consume_one(connection, name, unique_name("after-tls")) == b"written before tls"
        )
        # The services' profiles were rewritten for TLS too.
        enforcer = load_profile("enforcer", encrypted.profiles_dir / "enforcer.toml")
        assert enforcer.security_protocol == "SASL_SSL"


async def _start_producer(connection: KafkaConnection) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), request_timeout_ms=5000)
    try:
        await asyncio.wait_for(producer.start(), timeout=30)
    finally:
        await producer.stop()


def _librdkafka_errors(connection: KafkaConnection | dict[str, Any]) -> list[str]:
    """The errors librdkafka reports while asking for metadata; empty if it got an answer."""
    config = (
        connection.confluent_config() if isinstance(connection, KafkaConnection) else connection
    )
    errors: list[str] = []
    admin = AdminClient(
        {**config, "error_cb": lambda e: errors.append(str(e))},  # type: ignore[dict-item]
        logger=_quiet,
    )
    try:
        admin.list_topics(timeout=8)
    except Exception as exc:
        errors.append(str(exc))
    admin.poll(0.5)  # deliver pending error callbacks
    return errors
