"""A producer for an agency's unit tests: events are validated and signed exactly as `Producer`
does, with the agency's real key, and kept in memory instead of being sent. No broker.

    async def test_a_move_is_published() -> None:
        async with CapturingProducer(key) as producer:
            await register.on_move(producer, person)          # the agency's own code
        [published] = producer.published
        assert published.event.new_address.municipality_code == "09162000"
        assert published.topic == "bus.ingress.population.AddressChanged"

`published` keeps each event with its id and the exact Kafka record (topic, key, SD-JWT value,
`ce_` headers) the bus would have received; `verify()` checks the record's signature against the
agency's public key, as the enforcer does.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bus.catalog import Event
from bus.envelope.codec import VerifiedEvent
from bus.envelope.kafka_binding import KafkaRecord, verify_record
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import ingress_topic
from bus.keys import AgencySigningKey, KeyStore
from producers.errors import PublishError
from producers.producer import Producer

# Never dialled: a capturing producer does not connect.
_NOWHERE = KafkaConnection(bootstrap="capture.invalid:9", username="capture", password="")


@dataclass(frozen=True)
class Published:
    """One captured publication: the event as the caller passed it, its id, and its record."""

    event: Event
    event_id: str
    record: KafkaRecord

    @property
    def topic(self) -> str:
        """The topic it would have gone to (its event type's ingress topic)."""
        return self.record.topic


class CapturingProducer(Producer):
    """`Producer` without a broker: `publish` and `publish_many` validate, sign and keep.

    Parameters:
        private_key: the agency's signing key (the agency is its owner).
        ingress_topic_of: as for `Producer`.

    `fail(n)` makes the next n publications raise PublishError, as a broker outage would, to
    test the caller's retry with the same ids.
    """

    def __init__(
        self,
        private_key: AgencySigningKey,
        *,
        ingress_topic_of: Callable[[str], str] = ingress_topic,
    ) -> None:
        super().__init__(
            private_key.agency_id, private_key, _NOWHERE, ingress_topic_of=ingress_topic_of
        )
        self.published: list[Published] = []
        self._running = False
        self._failing = 0
        self._pending: list[Event] = []

    @property
    def started(self) -> bool:
        """Whether `start` was called (and `stop` not since)."""
        return self._running

    async def start(self) -> None:
        """Nothing to connect to: mark it started."""
        self._running = True

    async def stop(self) -> None:
        """Mark it stopped; what was captured stays in `published`."""
        self._running = False

    def fail(self, publications: int = 1) -> None:
        """The next `publications` calls of `publish`/`publish_many` fail with PublishError and
        keep nothing, as if no acknowledgement came back."""
        self._failing = publications

    async def publish_many(
        self, events: Sequence[Event], *, event_ids: Sequence[str] | None = None
    ) -> list[str]:
        """As `Producer.publish_many`; the events are kept in `published` instead of sent."""
        self._pending = list(events)
        return await super().publish_many(events, event_ids=event_ids)

    async def _send(self, records: list[KafkaRecord], ids: list[str]) -> None:
        if self._failing:
            self._failing -= 1
            raise PublishError(
                "captured as failed (CapturingProducer.fail)", failed=ids, published=[], ids=ids
            )
        for event, event_id, record in zip(self._pending, ids, records, strict=True):
            self.published.append(Published(event, event_id, record))

    def verify(self, published: Published) -> VerifiedEvent:
        """Verify the captured record's signature and envelope as the bus does."""
        keys = KeyStore.from_pems([(self._key.agency_id, self._key.public_pem())])
        record = published.record
        return verify_record(record.value, list(record.headers), keys)
