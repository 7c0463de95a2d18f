"""Producer SDK: validate, sign and publish events to their ingress topics.

async with Producer("muni-0916", key, "127.0.0.1:19092", Credentials("muni-0916", pw)) as p:
    event_id = await p.publish(AddressChanged(...))
"""

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
)

from bus.catalog import Event
from bus.credentials import Credentials
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import KafkaRecord, ingress_record
from bus.kafka.connection import KafkaConnection
from bus.keys import AgencySigningKey
from producers.connecting import start_producer
from producers.errors import PublishError

log = logging.getLogger(__name__)


class Producer:
    def __init__(
        self,
        agency_id: str,
        private_key: AgencySigningKey,
        bootstrap: str,
        credentials: Credentials,
        *,
        connect_attempts: int = 5,
        retry_backoff_s: float = 1.0,
        request_timeout_s: float = 15.0,
    ) -> None:
        if private_key.agency_id != agency_id:
            raise ValueError(f"key belongs to {private_key.agency_id!r}, not to {agency_id!r}")
        self._key = private_key
        self._connection = KafkaConnection(bootstrap, credentials.username, credentials.password)
        self._connect_attempts = connect_attempts
        self._retry_backoff_s = retry_backoff_s
        self._request_timeout_ms = int(request_timeout_s * 1000)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect, retrying with exponential backoff; then fail with ProducerUnavailableError."""
        self._producer = await start_producer(
            self._connection,
            lambda: AIOKafkaProducer(
                **self._connection.aiokafka_kwargs(),
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=self._request_timeout_ms,
            ),
            attempts=self._connect_attempts,
            backoff_s=self._retry_backoff_s,
            refused=lambda exc: (
                f"{self._connection.username!r} may not publish on the bus ({exc}); nothing was"
                " published. The bus grants WRITE on an ingress topic only to the agency that is"
                " the authentic source of that event type."
            ),
        )

    async def stop(self) -> None:
        """Flush what is in flight, then disconnect."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> "Producer":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, event: Event) -> str:
        """Validate, sign and send one event; returns its id once the broker acknowledged it."""
        return (await self.publish_many([event]))[0]

    async def publish_many(self, events: Sequence[Event]) -> list[str]:
        """Send a batch; returns the ids in order once all are acknowledged.

        If some fail, PublishError names the failed and the published ids (the idempotent producer
        keeps each partition's order, so a failure affects the events after it on that partition).
        """
        producer = self._require_started()
        records = [self._record(event) for event in events]
        ids = [_event_id(r) for r in records]
        # Enqueue one after the other so that records keep their order within each partition;
        # then wait for all acknowledgements together.
        pending: list[asyncio.Future[object] | BaseException] = []
        for r in records:
            try:
                pending.append(await producer.send(r.topic, r.value, key=r.key, headers=r.headers))
            except KafkaError as exc:  # e.g. the topic's metadata was refused
                pending.append(exc)
        outcomes = await asyncio.gather(*(_settled(p) for p in pending), return_exceptions=True)
        failed = [i for i, o in zip(ids, outcomes, strict=True) if isinstance(o, BaseException)]
        if failed:
            first = next(o for o in outcomes if isinstance(o, BaseException))
            raise PublishError(
                f"{len(failed)} of {len(ids)} events were not acknowledged ({first!r}); "
                "publish them again, consumers deduplicate by event id",
                failed=failed,
                published=[i for i in ids if i not in failed],
            )
        return ids

    def _record(self, event: Event) -> KafkaRecord:
        # Re-validate: a model built with model_construct() or mutated through __dict__ would
        # otherwise be signed unchecked.
        checked = type(event).model_validate(event.model_dump())
        return ingress_record(issue_event(checked, self._key))

    def _require_started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError(
                "the producer is not started: use `async with Producer(...)` or start()"
            )
        return self._producer


async def _settled(pending: "asyncio.Future[object] | BaseException") -> object:
    if isinstance(pending, BaseException):
        raise pending
    return await pending


def _event_id(record: KafkaRecord) -> str:
    return next(v.decode() for k, v in record.headers if k == "ce_id")
