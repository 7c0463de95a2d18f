"""Consumer SDK: a back office subscribes to (event type, purpose) with an async handler.

    consumer = Consumer("tax-by", connection, keys, SqliteInbox(Path("tax.db")))
    consumer.subscribe("population.AddressChanged", "tax-residence", on_move)
    await consumer.run(stop)            # until `stop` is set (the CLI sets it on SIGTERM)

    async def on_move(event: ReleasedEvent, db: sqlite3.Connection) -> None:
        db.execute("UPDATE taxpayers SET … WHERE person_id = ?", (event.subject_id,))

For each delivery: verify the SD-JWT against the producer's public key (a failure goes to the
dead-letter topic, never to the handler); skip it if the inbox has its (source, event id, purpose)
already (a redelivery, or a copy the producer republished with the same id); otherwise run the
handler and record that key in the same database transaction; retry a failing handler with bounded
exponential backoff, then dead-letter it. Offsets are committed after the batch is handled.

Storage limitation: each applied entry keeps the deadline the bus stamped on the delivery
(`bus_erase_by`). Register an erase handler with the subscription, and `run` purges what is due
every `purge_every_s` (consumers/purge.py); `purge_now` does it once (`bus back-office purge`):

    async def forget(entry: InboxEntry, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM taxpayers WHERE last_event_id = ?", (entry.event_id,))

    consumer.subscribe("population.AddressChanged", "tax-residence", on_move, erase=forget)
"""

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    CommitFailedError,
    GroupAuthorizationFailedError,
    TopicAuthorizationFailedError,
)

from bus.envelope.attributes import EventAttributes
from bus.envelope.errors import EnvelopeError
from bus.envelope.kafka_binding import header_map, verify_record
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import consumer_group_prefix, delivery_topic
from bus.keys import KeyStore
from bus.record.erase_by import ERASE_BY_HEADER, parse_erase_by
from consumers.dead_letters import (
    HANDLER_FAILED,
    NO_ERASE_BY,
    NO_HANDLER,
    WRONG_PURPOSE,
    DeadLetters,
    position,
)
from consumers.erasure_records import ErasureRecords
from consumers.errors import ConsumerNotAuthorizedError, WithheldFieldError
from consumers.inbox import Inbox, InboxOutcome
from consumers.purge import Eraser, PurgeResult, purge
from consumers.retry import RetryPolicy
from consumers.view import ReleasedEvent

log = logging.getLogger(__name__)

# The handler writes through the connection it is given: the same transaction as the inbox entry.
Handler = Callable[[ReleasedEvent, sqlite3.Connection], Awaitable[None]]
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


class Consumer:
    """A back office's connection to the bus: verifies its deliveries and runs its handlers.

    Register handlers with `subscribe`, then `run` until a stop event is set. `stats` counts what
    was applied, skipped and dead-lettered since start.

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
    """

    def __init__(
        self,
        agency_id: str,
        connection: KafkaConnection,
        keys: KeyStore,
        inbox: Inbox[Any],
        *,
        group: str = "back-office",
        retry: RetryPolicy = DEFAULT_RETRY,
        max_batch: int = 100,
        purge_every_s: float | None = PURGE_EVERY_S,
        clock: Clock = utc_now,
    ) -> None:
        self.agency_id = agency_id
        self._connection = connection
        self._keys = keys
        self._inbox = inbox
        self._group = f"{consumer_group_prefix(agency_id)}{group}"
        self._retry = retry
        self._max_batch = max_batch
        self._handlers: dict[tuple[str, str], Handler] = {}  # (purpose, event type)
        self._purposes: dict[str, str] = {}  # delivery topic -> purpose
        self._erasers: dict[tuple[str, str], Eraser[Any]] = {}  # (purpose, event type)
        self._purge_every_s = purge_every_s
        self._clock = clock
        self.stats = ConsumerStats()
        self.last_purge: PurgeResult | None = None

    def subscribe(
        self, event_type: str, purpose: str, handler: Handler, erase: Eraser[Any] | None = None
    ) -> None:
        """Handle `event_type` delivered for `purpose` (the subscription must exist on the bus:
        `bus subscribe`; the SDK only reads what the bus delivers). `erase` deletes or anonymises
        what `handler` kept once the purpose's retention has run out; without it such entries
        stay due, and the citizen's report shows them overdue."""
        self._handlers[(purpose, event_type)] = handler
        if erase is not None:
            self._erasers[(purpose, event_type)] = erase
        self._purposes[delivery_topic(self.agency_id, purpose)] = purpose

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
        next_purge = self._clock()
        try:
            await dead_letters.start()
            await erasures.start()
            await consumer.start()
            while not stop.is_set():
                if self._purge_every_s is not None and self._clock() >= next_purge:
                    self.last_purge = await purge(
                        self._inbox, self._erasers, erasures, self._clock()
                    )
                    next_purge = self._clock() + timedelta(seconds=self._purge_every_s)
                batches = await consumer.getmany(timeout_ms=500, max_records=self._max_batch)
                for tp, records in batches.items():
                    done = await self._handle_batch(records, dead_letters, stop)
                    if done:
                        await self._commit(consumer, tp, done[-1].offset + 1)
                    if stop.is_set():
                        break
        except (
            TopicAuthorizationFailedError,
            GroupAuthorizationFailedError,
            ClusterAuthorizationFailedError,  # the dead-letter producer: no WRITE anywhere yet
        ) as exc:
            raise ConsumerNotAuthorizedError(
                f"{self._connection.username!r} may not read {sorted(self._purposes)} with group "
                f"{self._group!r} ({exc.__class__.__name__}). Register the subscription with "
                "`bus subscribe`; the bus grants READ only while a grant authorizes it."
            ) from exc
        finally:
            await consumer.stop()
            await dead_letters.stop()
            await erasures.stop()

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
            verified = verify_record(record.value, list(record.headers or ()), self._keys)
            headers = header_map(record.headers or ())
            if headers.get("bus_purpose") != purpose:
                raise _Refused(WRONG_PURPOSE, f"not delivered for purpose {purpose!r}")
            erase_by = _deadline(headers.get(ERASE_BY_HEADER))
        except (EnvelopeError, _Refused) as exc:
            await self._park(dead_letters, record, exc.reason, str(exc), 0, None, purpose)
            return
        a = verified.attributes
        if self._inbox.seen(a.source, a.id, purpose) is not None:
            self.stats.duplicates += 1
            return
        handler = self._handlers.get((purpose, a.type))
        if handler is None:
            detail = f"no handler for {a.type} delivered for {purpose!r}"
            await self._park(dead_letters, record, NO_HANDLER, detail, 0, a, purpose)
            return
        event = ReleasedEvent(
            event_id=a.id,
            event_class=verified.event_class,
            source=a.source,
            time=a.time,
            consumer=self.agency_id,
            purpose=purpose,
            fields=verified.fields,
        )
        for attempt in range(1, self._retry.attempts + 1):
            try:
                with self._inbox.transaction() as db:
                    await handler(event, db)
                    self._inbox.record(
                        db, a.source, a.id, a.type, purpose, InboxOutcome.APPLIED, erase_by
                    )
                self.stats.applied += 1
                return
            except WithheldFieldError as exc:  # deterministic: retrying cannot help
                await self._park(dead_letters, record, exc.reason, str(exc), attempt, a, purpose)
                return
            except Exception as exc:
                handled_meanwhile = self._inbox.seen(a.source, a.id, purpose) is not None
                if self._inbox.lost_race(exc) and handled_meanwhile:
                    # Another writer recorded this event first: its effects stand, ours rolled back.
                    self.stats.duplicates += 1
                    return
                log.warning(
                    "handler failed on %s (attempt %d/%d): %r",
                    a.id,
                    attempt,
                    self._retry.attempts,
                    exc,
                    extra={"event_id": a.id},
                )
                if attempt == self._retry.attempts:
                    detail = f"{type(exc).__name__}: {exc}"
                    await self._park(
                        dead_letters, record, HANDLER_FAILED, detail, attempt, a, purpose
                    )
                    return
                self.stats.retries += 1
                await asyncio.sleep(self._retry.delay_after(attempt))

    async def _park(
        self,
        dead_letters: DeadLetters,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        detail: str,
        attempts: int,
        attributes: EventAttributes | None,
        purpose: str,
    ) -> None:
        event_id = attributes.id if attributes else None
        log.warning(
            "dead-lettered: %s (%s)",
            reason,
            detail,
            extra={"event_id": event_id, "reason": reason, "input": position(record)},
        )
        await dead_letters.park(record, reason, detail, attempts)
        self.stats.dead_lettered[reason] = self.stats.dead_lettered.get(reason, 0) + 1
        if attributes is not None:
            # Remember it, so a redelivery is not parked a second time.
            with self._inbox.transaction() as db:
                a = attributes
                self._inbox.record(db, a.source, a.id, a.type, purpose, InboxOutcome.DEAD_LETTERED)


class _Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _deadline(text: str | None) -> datetime:
    """The delivery's erasure deadline; refused if absent or not a time with a zone. Fail closed:
    data applied without a deadline would never be found due, so it is not applied at all."""
    if text is None:
        raise _Refused(NO_ERASE_BY, f"no {ERASE_BY_HEADER} header: the enforcer set no deadline")
    try:
        return parse_erase_by(text)
    except ValueError:
        raise _Refused(NO_ERASE_BY, f"{ERASE_BY_HEADER} {text[:40]!r} is no time") from None
