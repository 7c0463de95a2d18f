"""(b) The broker refuses clients without credentials and clients with a wrong password."""

import asyncio
import gc

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.helpers import create_ssl_context

from bus.devenv import broker
from bus.kafka.connection import KafkaConnection
from bus.kafka.settings import KafkaSettings

# A refused login may leave a half-closed aiokafka transport to the garbage collector, whose
# warning then surfaced in whichever test ran when it was collected (once in CI: an error in the
# setup of test_broker_restart). The refusal tests collect it themselves, where it is expected.
LEFT_BY_A_REFUSED_LOGIN = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)


async def _start_producer(**kwargs: object) -> None:
    producer = AIOKafkaProducer(**kwargs, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(producer.start(), timeout=30)
    finally:
        await producer.stop()


async def _refused(**kwargs: object) -> None:
    with pytest.raises(KafkaConnectionError):
        await _start_producer(**kwargs)
    gc.collect()


def _failed_logins(settings: KafkaSettings) -> int:
    text = broker.log_file(settings).read_text(errors="replace")
    return text.count("invalid credentials with SASL mechanism SCRAM-SHA-512")


async def test_correct_credentials_are_accepted(kafka_broker: KafkaConnection) -> None:
    # The control for the two refusals below: same address, right password.
    await _start_producer(**kafka_broker.aiokafka_kwargs())


@LEFT_BY_A_REFUSED_LOGIN
async def test_client_without_credentials_is_refused(kafka_broker: KafkaConnection) -> None:
    # Over TLS with the lab's CA (so the handshake succeeds and only the missing SASL login is
    # what the broker refuses); a plaintext client is refused earlier (test_broker_tls.py).
    assert kafka_broker.ca_file is not None
    await _refused(
        bootstrap_servers=kafka_broker.bootstrap,
        security_protocol="SSL",
        ssl_context=create_ssl_context(cafile=str(kafka_broker.ca_file)),
    )


@LEFT_BY_A_REFUSED_LOGIN
async def test_wrong_password_is_refused_by_scram(
    kafka_broker: KafkaConnection,
    kafka_settings: KafkaSettings,
) -> None:
    before = _failed_logins(kafka_settings)
    wrong = kafka_broker.as_user(kafka_broker.username, kafka_broker.password + "-wrong")
    await _refused(**wrong.aiokafka_kwargs())
    # The broker itself logs the refusal as a SCRAM authentication failure (not a network fault).
    for _ in range(50):
        if _failed_logins(kafka_settings) > before:
            break
        await asyncio.sleep(0.2)
    assert _failed_logins(kafka_settings) > before
