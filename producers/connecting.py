"""Starting a producer with the agency's credentials: bounded retries with exponential backoff
while the broker is unreachable; a refusal ends at once (retrying cannot help)."""

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from bus.kafka.connection import KafkaConnection
from producers.errors import (
    ProducerConfigError,
    ProducerNotAuthorizedError,
    ProducerUnavailableError,
)

log = logging.getLogger(__name__)
NOT_AUTHORIZED = (
    ClusterAuthorizationFailedError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)


async def start_producer(
    connection: KafkaConnection,
    make: Callable[[], AIOKafkaProducer],
    *,
    attempts: int,
    backoff_s: float,
    refused: Callable[[Exception], str],
) -> AIOKafkaProducer:
    """A started producer from `make()`; `refused(exc)` words the ProducerNotAuthorizedError."""
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        producer = make()
        try:
            await producer.start()
        except NOT_AUTHORIZED as exc:
            await producer.stop()
            raise ProducerNotAuthorizedError(refused(exc)) from exc
        except KafkaError as exc:
            await producer.stop()
            log.warning("connect attempt %d/%d failed: %s", attempt, attempts, exc)
            if attempt == attempts:
                raise ProducerUnavailableError(
                    f"could not connect to the bus at {connection.bootstrap} as "
                    f"{connection.username!r} after {attempt} attempts ({exc}); nothing was"
                    " published. Check that the broker runs and the credentials are right."
                ) from exc
            await asyncio.sleep(delay)
            delay *= 2
        else:
            return producer
    raise ProducerConfigError("attempts must be at least 1")
