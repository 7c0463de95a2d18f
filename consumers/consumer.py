"""Consumer SDK: a back office handles (event type, purpose) with typed async handlers.

    connection = load_agency_profile("tax-by")    # the agency's own connection profile
    consumer = Consumer.from_profile(connection, KeyStore.from_directory(keys), SqliteInbox(db))

    @consumer.handler(AddressChanged, purpose="tax-residence")
    async def on_move(event: ReleasedEvent[AddressChanged], db: sqlite3.Connection) -> None:
        db.execute("UPDATE taxpayers SET … WHERE person_id = ?", (event.data.subject_id,))

    await consumer.run_until_signalled()          # SIGTERM/SIGINT: finish, commit, return

For each delivery: verify the SD-JWT against the producer's public key (a failure goes to the
dead-letter topic, never to the handler); skip it if the inbox has its (source, event id, purpose)
already (a redelivery, or a copy the producer republished with the same id); otherwise run the
handler and record that key in the same database transaction. A handler error that would repeat
(a bug, a withheld field, `RejectDelivery`) is dead-lettered at once; others are retried with
bounded exponential backoff, then dead-lettered (consumers/handling.py decides). Offsets are
committed after the batch is handled.

Storage limitation: each applied entry keeps the deadline the bus stamped on the delivery
(`bus_erase_by`). Register an erase handler with the subscription, and `run` purges what is due
every `purge_every_s` (consumers/purge.py); `purge_now` does it once (`bus back-office purge`):

    async def forget(entry: InboxEntry, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM taxpayers WHERE last_event_id = ?", (entry.event_id,))

    consumer.subscribe(AddressChanged, "tax-residence", on_move, erase=forget)
"""

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from bus.catalog import Event
from bus.envelope.errors import EnvelopeError
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import consumer_group_prefix, delivery_topic
from bus.keys import KeyStore
from consumers.dead_letters import DeadLetters, position
from consumers.delivery_check import DeliveryRefusedError, check_delivery
from consumers.erasure_records import ErasureRecords
from consumers.handling import (
    DeadLetter,
    Refusal,
    Skip,
    after_failure,
    before_handler,
)
from consumers.inbox import Inbox, InboxOutcome
from consumers.metrics import ConsumerMetrics
from consumers.not_authorized import refusals_explained
from consumers.purge import Eraser, PurgeResult, purge
from consumers.retry import RetryPolicy
from consumers.view import ReleasedEvent

log = logging.getLogger(__name__)

E = TypeVar("E")
# The connection the inbox hands its handlers (sqlite3.Connection, psycopg.Connection).
C = TypeVar("C")
# The handler writes through the connection it is given: the same transaction as the inbox entry.
Handler = Callable[[ReleasedEvent[Any], C], Awaitable[None]]
TypedHandler = Callable[[ReleasedEvent[E], C], Awaitable[None]]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
DEFAULT_RETRY = RetryPolicy()
Clock = Callable[[], datetime]
# How often `run` erases what is due: deadlines are days apart, an hour late is no risk.
PURGE_EVERY_S = 3600.0


def utc_now() -> datetime:
    """The time now, in UTC: the default clock."""
    return datetime.now(UTC)


@dataclass
class ConsumerStats:
    """Counts since start, for progress displays and tests."""

    applied: int = 0
    duplicates: int = 0
    retries: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        """Deliveries finished in any way: applied, skipped as duplicates or dead-lettered."""
        return self.applied + self.duplicates + sum(self.dead_lettered.values())


class Consumer(Generic[C]):
    """A back office's connection to the bus: verifies its deliveries and runs its handlers.

    Build it with `from_profile` (the agency is the profile's principal), register handlers with
    the `handler` decorator (or `subscribe`), then `run_until_signalled()` (or `run` until a stop
    event is set). `stats` counts what was applied, skipped and dead-lettered since start.

    Parameters:
        agency_id: the consuming agency; its delivery and dead-letter topics are named after it.
        connection: the broker address and the agency's own credentials.
        keys: the producers' public keys, to verify each delivery's signature.
        inbox: the back office's database; handlers write through it, in one transaction with
            the entry that marks the event handled.
        group: the consumer group's name after the agency's prefix (`<agency_id>.<group>`).
        retry: how often and how long to retry a failing handler before dead-lettering.
        max_batch: at most this many records are fetched at once; offsets are committed per batch.
        purge_every_s: `run` erases what is due at start and then this often; None: never
            (`purge_now` only).
        clock: the time deadlines are held against (a test's own clock).
        metrics_port: serve Prometheus metrics on 127.0.0.1 at this port (None: not served;
            `metrics` counts either way).
    """

    def __init__(
        self,
        agency_id: str,
        connection: KafkaConnection,
        keys: KeyStore,
        inbox: Inbox[C],
        *,
        group: str = "back-office",
        retry: RetryPolicy = DEFAULT_RETRY,
        max_batch: int = 100,
        purge_every_s: float | None = PURGE_EVERY_S,
        clock: Clock = utc_now,
        metrics_port: int | None = None,
    ) -> None:
        self.agency_id = agency_id
        self._connection = connection
        self._keys = keys
        self._inbox = inbox
        self._group = f"{consumer_group_prefix(agency_id)}{group}"
        self._retry = retry
        self._max_batch = max_batch
        self._handlers: dict[tuple[str, str], Handler[C]] = {}  # (purpose, event type)
        self._purposes: dict[str, str] = {}  # delivery topic -> purpose
        self._erasers: dict[tuple[str, str], Eraser[C]] = {}  # (purpose, event type)
        self._purge_every_s = purge_every_s
        self._clock = clock
        self.stats = ConsumerStats()
        self.last_purge: PurgeResult | None = None
        self.metrics = ConsumerMetrics()
        self._metrics_port = metrics_port

    @classmethod
    def from_profile(
        cls, connection: KafkaConnection, keys: KeyStore, inbox: Inbox[C], **options: Any
    ) -> "Consumer[C]":
        """The consumer of the agency whose principal `connection` is (its connection profile:
        `load_agency_profile(agency)`); `options` as the constructor's keyword parameters."""
        return cls(connection.username, connection, keys, inbox, **options)

    def handler(
        self, event_class: type[E], purpose: str, *, erase: Eraser[C] | None = None
    ) -> Callable[[TypedHandler[E, C]], TypedHandler[E, C]]:
        """Decorator: the function handles `event_class` delivered for `purpose`. Annotate its
        event as `ReleasedEvent[EventClass]`, or as a view of the released fields (`bus sdk
        views`); mypy checks that it fits the event class. See `subscribe` for `erase`."""
        if not (isinstance(event_class, type) and issubclass(event_class, Event)):
            raise TypeError(f"{event_class!r} is no event class of the catalogue")
        event_type = event_class.event_type

        def register(function: TypedHandler[E, C]) -> TypedHandler[E, C]:
            self.subscribe(event_type, purpose, function, erase)
            return function

        return register

    def subscribe(
        self,
        event_type: str | type[Event],
        purpose: str,
        handler: Handler[C],
        erase: Eraser[C] | None = None,
    ) -> None:
        """Handle `event_type` (a catalogue class or its type name) delivered for `purpose`; a
        second handler for the same pair is refused (ValueError). The subscription must exist on
        the bus (`bus subscribe`); the SDK only reads what the bus delivers. `erase` deletes or
        anonymises what `handler` kept once the purpose's retention has run out; without it such
        entries stay due, and the citizen's report shows them overdue."""
        if not isinstance(event_type, str):
            event_type = event_type.event_type
        if (purpose, event_type) in self._handlers:
            raise ValueError(f"{event_type} for {purpose!r} has a handler already")
        self._handlers[(purpose, event_type)] = handler
        if erase is not None:
            self._erasers[(purpose, event_type)] = erase
        self._purposes[delivery_topic(self.agency_id, purpose)] = purpose

    async def run_until_signalled(self, signals: Iterable[signal.Signals] = STOP_SIGNALS) -> None:
        """`run` until one of `signals` arrives (SIGTERM, SIGINT): the record in hand finishes
        and its batch commits, then this returns. Call it from the main thread's event loop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        caught = list(signals)
        for number in caught:
            loop.add_signal_handler(number, stop.set)
        try:
            await self.run(stop)
        finally:
            for number in caught:
                loop.remove_signal_handler(number)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the record in hand is finished and its batch committed
        first. ValueError before any `subscribe`; ConsumerNotAuthorizedError if the broker refuses
        the agency its delivery topics or group (no subscription registered, or a grant gone)."""
        if not self._handlers:
            raise ValueError("subscribe() to at least one event type and purpose first")
        consumer = AIOKafkaConsumer(
            *sorted(self._purposes),
            **self._connection.aiokafka_kwargs(),
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        dead_letters = DeadLetters(self.agency_id, self._connection)
        erasures = ErasureRecords(self.agency_id, self._connection)
        if self._metrics_port is not None:
            self.metrics.serve(self._metrics_port)
        try:
            with refusals_explained(self._connection.username, sorted(self._purposes), self._group):
                await dead_letters.start()
                await erasures.start()
                await consumer.start()
                await self._consume(consumer, dead_letters, erasures, stop)
        finally:
            await consumer.stop()
            await dead_letters.stop()
            await erasures.stop()

    async def _consume(
        self,
        consumer: AIOKafkaConsumer,
        dead_letters: DeadLetters,
        erasures: ErasureRecords,
        stop: asyncio.Event,
    ) -> None:
        next_purge = self._clock()
        while not stop.is_set():
            if self._purge_every_s is not None and self._clock() >= next_purge:
                self.last_purge = await purge(self._inbox, self._erasers, erasures, self._clock())
                next_purge = self._clock() + timedelta(seconds=self._purge_every_s)
            batches = await consumer.getmany(timeout_ms=500, max_records=self._max_batch)
            for tp, records in batches.items():
                done = await self._handle_batch(records, dead_letters, stop)
                if done:
                    await self._commit(consumer, tp, done[-1].offset + 1)
                    self._measure_lag(consumer, tp, done[-1].offset + 1)
                if stop.is_set():
                    break

    async def purge_now(self, progress: Callable[[PurgeResult], None] | None = None) -> PurgeResult:
        """Erase what is due by the clock now and report it on the erasures topic, once."""
        erasures = ErasureRecords(self.agency_id, self._connection)
        await erasures.start()
        try:
            self.last_purge = await purge(
                self._inbox, self._erasers, erasures, self._clock(), progress
            )
        finally:
            await erasures.stop()
        return self.last_purge

    def _measure_lag(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, next_offset: int
    ) -> None:
        highwater = consumer.highwater(tp)
        if highwater is not None:
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(
                max(0, highwater - next_offset)
            )

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: offset})
        except CommitFailedError as exc:
            # The partition moved to another member; it redelivers, and the inbox skips those.
            log.warning("offset commit on %s failed (%s); redeliveries will be skipped", tp, exc)

    async def _handle_batch(
        self,
        records: list[ConsumerRecord[bytes, bytes]],
        dead_letters: DeadLetters,
        stop: asyncio.Event,
    ) -> list[ConsumerRecord[bytes, bytes]]:
        done: list[ConsumerRecord[bytes, bytes]] = []
        for record in records:
            if stop.is_set():
                break
            await self._handle(record, dead_letters)
            done.append(record)
        return done

    async def _handle(
        self, record: ConsumerRecord[bytes, bytes], dead_letters: DeadLetters
    ) -> None:
        purpose = self._purposes[record.topic]
        try:
            checked = check_delivery(record.value, record.headers or (), self._keys, purpose)
        except (EnvelopeError, DeliveryRefusedError) as exc:
            step = before_handler(Refusal(exc.reason, str(exc)), False, False, "")
            assert isinstance(step, DeadLetter)  # a refusal is always parked
            await self._park(dead_letters, record, step.reason, step.detail, 0, None, purpose)
            return
        verified, erase_by = checked.verified, checked.erase_by
        a = verified.attributes
        handler = self._handlers.get((purpose, a.type))
        step = before_handler(
            None,
            self._inbox.seen(a.source, a.id, purpose) is not None,
            handler is not None,
            f"{a.type} delivered for {purpose!r}",
        )
        if isinstance(step, Skip):
            self._count_duplicate(purpose)
        elif isinstance(step, DeadLetter):
            where = (a.source, a.id, a.type)
            await self._park(dead_letters, record, step.reason, step.detail, 0, where, purpose)
        elif handler is not None:
            event: ReleasedEvent[Any] = ReleasedEvent(
                event_id=a.id,
                event_class=verified.event_class,
                source=a.source,
                time=a.time,
                consumer=self.agency_id,
                purpose=purpose,
                fields=verified.fields,
            )
            await self._apply(handler, event, record, dead_letters, erase_by)

    async def _apply(
        self,
        handler: Handler[C],
        event: ReleasedEvent[Any],
        record: ConsumerRecord[bytes, bytes],
        dead_letters: DeadLetters,
        erase_by: datetime,
    ) -> None:
        """Run `handler` until it commits, or `after_failure` says skip or park."""
        purpose, labels = event.purpose, (event.purpose, event.event_type)
        where = (event.source, event.id, event.event_type)
        for attempt in range(1, self._retry.attempts + 1):
            started = time.perf_counter()
            try:
                with self._inbox.transaction() as db:
                    await handler(event, db)
                    self._inbox.record(db, *where, purpose, InboxOutcome.APPLIED, erase_by)
                error = None
            except Exception as exc:
                error = exc
            self.metrics.handler_seconds.labels(*labels).observe(time.perf_counter() - started)
            if error is None:
                self.stats.applied += 1
                self.metrics.applied.labels(*labels).inc()
                return
            lost_race = self._inbox.lost_race(error) and (
                self._inbox.seen(event.source, event.id, purpose) is not None
            )
            step = after_failure(error, attempt, self._retry, lost_race)
            if isinstance(step, Skip):
                self._count_duplicate(purpose)
                return
            log.warning(
                "handler failed on %s (attempt %d/%d): %r",
                event.id,
                attempt,
                self._retry.attempts,
                error,
                extra={"event_id": event.id},
            )
            if isinstance(step, DeadLetter):
                await self._park(
                    dead_letters, record, step.reason, step.detail, attempt, where, purpose
                )
                return
            self.stats.retries += 1
            self.metrics.retries.labels(*labels).inc()
            await asyncio.sleep(step.delay_s)

    def _count_duplicate(self, purpose: str) -> None:
        self.stats.duplicates += 1
        self.metrics.duplicates.labels(purpose).inc()

    async def _park(
        self,
        dead_letters: DeadLetters,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        detail: str,
        attempts: int,
        attributes: tuple[str, str, str] | None,
        purpose: str,
    ) -> None:
        """Park `record`; `attributes` (source, event id, event type) if it was verified."""
        event_id = attributes[1] if attributes else None
        log.warning(
            "dead-lettered: %s (%s)",
            reason,
            detail,
            extra={"event_id": event_id, "reason": reason, "input": position(record)},
        )
        await dead_letters.park(record, reason, detail, attempts)
        self.stats.dead_lettered[reason] = self.stats.dead_lettered.get(reason, 0) + 1
        self.metrics.dead_letters.labels(reason).inc()
        if attributes is not None:
            # Remember it, so a redelivery is not parked a second time.
            with self._inbox.transaction() as db:
                source, event_id, event_type = attributes
                self._inbox.record(
                    db, source, event_id, event_type, purpose, InboxOutcome.DEAD_LETTERED
                )
