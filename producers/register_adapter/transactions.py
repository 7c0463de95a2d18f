"""The adapter's one transactional producer: a chunk's events and its progress record commit
together or not at all.

The transactional id is fixed per agency, so starting the producer fences any earlier instance
(a crashed or frozen one) and settles its open transaction: an unfinished chunk is aborted, and its
events stay invisible to every read_committed reader, the enforcer included.
"""

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    ProducerFenced,
)

from bus.envelope.kafka_binding import KafkaRecord
from bus.kafka.connection import KafkaConnection
from producers.connecting import NOT_AUTHORIZED, start_producer
from producers.errors import (
    ProducerNotAuthorizedError,
    ProducerNotStartedError,
    ProducerUnavailableError,
)
from producers.register_adapter.errors import AdapterFencedError

log = logging.getLogger(__name__)


class TransactionalPublisher:
    """A transactional Kafka producer under `transactional_id`: commits a chunk of events and the
    progress record together, or nothing of them.

    Parameters:
        connection: the broker's address and the agency's credentials.
        transactional_id: the id that fences an earlier instance on start (the agency's prefix
            plus the adapter's name).
        connect_attempts: how often `start()` tries to connect before ProducerUnavailableError.
        retry_backoff_s: the wait before the second connect attempt; it doubles after each.
        request_timeout_s: how long the broker may take to answer a request.
        transaction_timeout_s: how long one chunk's transaction may take, sending and commit.
    """

    def __init__(
        self,
        connection: KafkaConnection,
        transactional_id: str,
        *,
        connect_attempts: int = 5,
        retry_backoff_s: float = 1.0,
        request_timeout_s: float = 15.0,
        transaction_timeout_s: float = 60.0,
    ) -> None:
        self._connection = connection
        self.transactional_id = transactional_id
        self._connect_attempts = connect_attempts
        self._retry_backoff_s = retry_backoff_s
        self._request_timeout_s = request_timeout_s
        self._transaction_timeout_s = transaction_timeout_s
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect and fence earlier instances, retrying with exponential backoff."""
        self._producer = await start_producer(
            self._connection,
            lambda: AIOKafkaProducer(
                **self._connection.aiokafka_kwargs(),
                transactional_id=self.transactional_id,
                transaction_timeout_ms=int(self._transaction_timeout_s * 1000),
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=int(self._request_timeout_s * 1000),
            ),
            attempts=self._connect_attempts,
            backoff_s=self._retry_backoff_s,
            refused=lambda exc: (
                f"{self._connection.username!r} may not use the transactional id "
                f"{self.transactional_id!r} ({exc!r}); nothing was published. The bus grants "
                "each producer agency the transactional ids starting with its id (`bus acl sync`)."
            ),
        )

    async def stop(self) -> None:
        """Disconnect (an open transaction is aborted by the broker); a no-op when stopped."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    @property
    def started(self) -> bool:
        """Whether `start()` connected and no failure or `stop()` has disconnected since."""
        return self._producer is not None

    async def commit(self, events: Sequence[KafkaRecord], progress: KafkaRecord) -> None:
        """Send `events` and `progress` in one transaction and commit it; on any failure abort it
        (nothing of it becomes visible), stop the producer and raise. Start again to retry."""
        producer = self._producer
        if producer is None:
            raise ProducerNotStartedError("start() the publisher first")
        try:
            async with asyncio.timeout(self._transaction_timeout_s):
                await producer.begin_transaction()
                pending = [
                    await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
                    for r in [*events, progress]
                ]
                await asyncio.gather(*pending)
                await producer.commit_transaction()
        except ProducerFenced as exc:
            await self._abandon(producer)
            raise AdapterFencedError(
                f"another register adapter took over the transactional id "
                f"{self.transactional_id!r}; this one stops (its open chunk was aborted)"
            ) from exc
        except NOT_AUTHORIZED as exc:
            await self._abandon(producer)
            raise ProducerNotAuthorizedError(
                f"the bus refused {self._connection.username!r} a write ({exc!r}); the chunk was "
                "aborted, nothing of it was published. The bus grants WRITE on an ingress topic "
                "only to the agency that is the authentic source of that event type."
            ) from exc
        except (KafkaError, TimeoutError) as exc:
            await self._abandon(producer)
            raise ProducerUnavailableError(
                f"the bus at {self._connection.bootstrap} did not take a chunk ({exc!r}); it was "
                "aborted, nothing of it was published, and it is sent again on the next start"
            ) from exc
        except BaseException:  # cancelled: do not leave the transaction open until it times out
            await self._abandon(producer)
            raise

    async def _abandon(self, producer: AIOKafkaProducer) -> None:
        """Abort if the producer still can; either way the next start's fencing settles it."""
        self._producer = None
        try:
            await asyncio.wait_for(producer.abort_transaction(), self._request_timeout_s)
        except Exception as exc:  # the next start aborts it for us
            log.debug("abort after a failed chunk did not go through: %r", exc)
        await producer.stop()
