"""Producer SDK: validate, sign and publish events to their ingress topics.

async with Producer("muni-0916", key, load_profile("muni-0916", Path("muni-0916.toml"))) as p:
    event_id = await p.publish(AddressChanged(...))

The connection is the agency's own, from its connection profile (bus/kafka/profile.py,
docs/connection-profile.md) or built as a KafkaConnection; never the broker's admin.

Each event gets a new id (UUIDv7), unless the caller passes the one it was given before: a retry
after a failure must keep the event's id, because the first attempt may have reached the broker
although its acknowledgement was lost. Consumers then recognise the copy by (source, id) and skip
it; a copy with a new id would be indistinguishable from a second event.

Records go to the partition of their key (the subject) under aiokafka's default partitioner,
murmur2 as in the Java client: the enforcer refuses any other as PARTITION_MISMATCH. So no
`partitioner=` is passed below; a client on librdkafka must set `partitioner=murmur2_random`.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
)

from bus.catalog import Event
from bus.control.credentials import load_agency_profile
from bus.envelope.codec import issue_event
from bus.envelope.kafka_binding import KafkaRecord, ingress_record
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import ingress_topic
from bus.keys import AgencySigningKey
from producers.connecting import start_producer
from producers.errors import (
    InvalidEventIdError,
    ProducerConfigError,
    ProducerNotStartedError,
    PublishError,
)

log = logging.getLogger(__name__)
NOT_STARTED = "the producer is not started: use `async with Producer(...)` or start()"


class Producer:
    """An agency's connection for publishing events: each is validated, signed with the agency's
    key and sent to its event type's ingress topic, where the enforcer takes it from.

    Use it as `async with Producer(...) as producer:` (or call `start()` and `stop()`), then
    `publish()` one event or `publish_many()` a batch. Nothing is dropped silently: a failure
    raises a ProducerError naming the events it concerns.

    Parameters:
        agency_id: the publishing agency's id, as the policy set names it (e.g. "muni-09162000").
        private_key: the agency's signing key; it must belong to `agency_id`
            (ProducerConfigError otherwise).
        connection: how the agency reaches the bus, as itself: its connection profile
            (`load_profile`; `bus agency onboard` writes one) or a KafkaConnection.
        connect_attempts: how often `start()` tries to connect before ProducerUnavailableError;
            at least 1.
        retry_backoff_s: the wait before the second attempt; it doubles after each further one.
        request_timeout_s: how long the broker may take to acknowledge a send.
        ingress_topic_of: the topic an event type is published to; the bus's ingress topic
            (`bus.ingress.<type>`) unless a test publishes to its own.
    """

    def __init__(
        self,
        agency_id: str,
        private_key: AgencySigningKey,
        connection: KafkaConnection,
        *,
        connect_attempts: int = 5,
        retry_backoff_s: float = 1.0,
        request_timeout_s: float = 15.0,
        ingress_topic_of: Callable[[str], str] = ingress_topic,
    ) -> None:
        if private_key.agency_id != agency_id:
            raise ProducerConfigError(
                f"key belongs to {private_key.agency_id!r}, not to {agency_id!r}"
            )
        self._key = private_key
        self._connection = connection
        self._connect_attempts = connect_attempts
        self._retry_backoff_s = retry_backoff_s
        self._request_timeout_ms = int(request_timeout_s * 1000)
        self._producer: AIOKafkaProducer | None = None
        # Where an event type is published: the bus's ingress topic; a test passes its own.
        self._ingress_topic_of = ingress_topic_of

    @classmethod
    def from_profile(
        cls,
        private_key: AgencySigningKey,
        connection: KafkaConnection | None = None,
        **options: Any,
    ) -> Self:
        """The producer of the agency whose key `private_key` is; `connection` defaults to that
        agency's connection profile (`load_agency_profile`: $BUS_PROFILE, else the one `bus
        agency onboard` wrote). `options` as the constructor's keyword parameters."""
        agency = private_key.agency_id
        return cls(agency, private_key, connection or load_agency_profile(agency), **options)

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

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, event: Event, *, event_id: str | None = None) -> str:
        """Validate, sign and send one event; returns its id once the broker acknowledged it.

        To retry an event whose publication failed, pass the id it was given (`event_id=`).
        """
        ids = None if event_id is None else [event_id]
        return (await self.publish_many([event], event_ids=ids))[0]

    async def publish_many(
        self, events: Sequence[Event], *, event_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Send a batch; returns the ids in order once all are acknowledged. `event_ids`, one per
        event in order, keeps the ids of a retry; by default each event gets a new one.

        If some fail, PublishError names the failed and the published ids (the idempotent producer
        keeps each partition's order, so a failure affects the events after it on that partition).
        """
        if not self.started:
            raise ProducerNotStartedError(NOT_STARTED)
        wanted = _checked_ids(event_ids, len(events))
        records = [self._record(event, i) for event, i in zip(events, wanted, strict=True)]
        ids = [_event_id(r) for r in records]
        await self._send(records, ids)
        return ids

    async def _send(self, records: list[KafkaRecord], ids: list[str]) -> None:
        """Send `records` and wait for every acknowledgement; PublishError names what failed."""
        producer = self._require_started()
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
                f"{len(failed)} of {len(ids)} events were not acknowledged ({first!r}); publish"
                " them again with the same ids (event_ids=), so that consumers recognise a copy"
                " that did arrive",
                failed=failed,
                published=[i for i in ids if i not in failed],
                ids=ids,
            )

    def _record(self, event: Event, event_id: str | None) -> KafkaRecord:
        # Re-validate: a model built with model_construct() or mutated through __dict__ would
        # otherwise be signed unchecked.
        checked = type(event).model_validate(event.model_dump())
        issued = issue_event(checked, self._key, event_id=event_id)
        return replace(ingress_record(issued), topic=self._ingress_topic_of(issued.attributes.type))

    @property
    def started(self) -> bool:
        """Whether `start` was called (and `stop` not since)."""
        return self._producer is not None

    def _require_started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise ProducerNotStartedError(NOT_STARTED)
        return self._producer


async def _settled(pending: "asyncio.Future[object] | BaseException") -> object:
    if isinstance(pending, BaseException):
        raise pending
    return await pending


def _checked_ids(event_ids: Sequence[str] | None, count: int) -> Sequence[str | None]:
    """The ids to sign with (None: a new one); a wrong id is refused before anything is sent."""
    if event_ids is None:
        return [None] * count
    if isinstance(event_ids, str) or len(event_ids) != count:
        raise InvalidEventIdError(f"event_ids must hold one id per event ({count})")
    for event_id in event_ids:
        if not isinstance(event_id, str) or str(_parse_uuid(event_id)) != event_id:
            raise InvalidEventIdError(
                f"event id {str(event_id)[:60]!r} is not a UUID in canonical form; pass the id"
                " publish() returned"
            )
    if len(set(event_ids)) != count:
        raise InvalidEventIdError("event_ids holds an id twice: each event needs its own")
    return event_ids


def _parse_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _event_id(record: KafkaRecord) -> str:
    return next(v.decode() for k, v in record.headers if k == "ce_id")
