"""A back office's interest markers: "we have a case about this person, for this purpose".

Where a grant `requires_interest`, the enforcer releases an event about a person to the consumer
only while the consumer holds a marker on that person for the grant's purpose (the Dutch BRP's
afnemersindicatie). A marker is a record on the consumer's own marker topic, keyed by the person's
identifier, written with the consumer's own credentials; the enforcer audits each change. The bus
answers nothing: registering a marker tells the consumer neither whether the person exists nor
whether any event about them will come.

    async with InterestRegister("tax-by", connection) as register:
        await register.add("1234567890", "tax-residence", expires_at=case_closes)
        ...
        await register.remove("1234567890", "tax-residence")
"""

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError

from bus.errors import ConfigError
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import TopicNotFoundError, topic_reader
from bus.kafka.topics import INTEREST_PREFIX, interest_topic
from bus.record.interest_marker import MarkerError, marker_value, read_marker, read_subject


class InterestTopicMissingError(ConfigError):
    """The agency has no marker topic for the purpose: none of its grants requires interest."""


# How long `list` waits for the marker topic's partitions to be read to their end.
LIST_TIMEOUT_S = 30.0


class InterestRegister:
    """Registers, removes and lists `agency`'s interest markers.

    Parameters:
        agency: the consumer agency (its connection must be its own: the broker lets it write
            only its own marker topics).
        connection: the broker and the agency's credentials.
        prefix: the marker topics' prefix; the bus's by default, a test's own otherwise.
    """

    def __init__(
        self, agency: str, connection: KafkaConnection, prefix: str = INTEREST_PREFIX
    ) -> None:
        self._agency, self._connection, self._prefix = agency, connection, prefix
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Self:
        # Kafka's default partitioner (murmur2 of the key): the partition of the person's events.
        self._producer = AIOKafkaProducer(
            **self._connection.aiokafka_kwargs(), acks="all", enable_idempotence=True
        )
        await self._producer.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def topic(self, purpose: str) -> str:
        """The marker topic of `purpose`."""
        return interest_topic(self._agency, purpose, self._prefix)

    async def add(self, subject: str, purpose: str, expires_at: datetime | None = None) -> None:
        """Mark `subject` for `purpose` until `expires_at` (aware; None: until removed). Returns
        once the broker has the marker: an event published after that is decided with it."""
        read_subject(subject.encode())  # refuse here what the enforcer would quarantine
        await self._send(purpose, subject, marker_value(expires_at))

    async def remove(self, subject: str, purpose: str) -> None:
        """Remove the marker on `subject` for `purpose` (a tombstone); an event published after
        this returns is no longer released to this consumer for it."""
        read_subject(subject.encode())
        await self._send(purpose, subject, None)

    async def _send(self, purpose: str, subject: str, value: bytes | None) -> None:
        if self._producer is None:
            raise RuntimeError("use `async with InterestRegister(...)` before adding markers")
        await self._producer.send_and_wait(self.topic(purpose), value, key=subject.encode())

    async def list(self, purpose: str) -> Mapping[str, datetime | None]:
        """The markers in force on `purpose`'s topic: subject → expiry (None: until removed).
        Reads the agency's own topic to its end; expired markers are left out."""
        topic = self.topic(purpose)
        try:
            async with topic_reader(self._connection, topic) as (consumer, tps):
                return await asyncio.wait_for(self._read(consumer, tps), LIST_TIMEOUT_S)
        except (TopicNotFoundError, UnknownTopicOrPartitionError) as exc:
            raise InterestTopicMissingError(
                f"{topic} does not exist (or is not yours to read): no grant of {self._agency} for"
                f" purpose {purpose} requires interest markers"
            ) from exc

    async def _read(
        self, consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]
    ) -> dict[str, datetime | None]:
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        held: dict[str, float] = {}
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*tps, timeout_ms=500)
            for records in batch.values():
                for record in records:
                    try:
                        if record.value is None:
                            held.pop(read_subject(record.key), None)
                        else:
                            subject, expires = read_marker(record.key, record.value)
                            held[subject] = expires
                    except MarkerError:
                        continue
        now = datetime.now(UTC).timestamp()
        return {
            s: None if e == float("inf") else datetime.fromtimestamp(e, UTC)
            for s, e in sorted(held.items())
            if e > now
        }
