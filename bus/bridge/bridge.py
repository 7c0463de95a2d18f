"""The webhook bridge's loop: read an agency's delivery topics with its own credentials, check
each delivery exactly as the consumer SDK does, POST it (poster.py), and commit its offset only
once the receiver answered 2xx or the delivery was dead-lettered with the reason.

Partitions are handled side by side, each in order: a person's events stay on one partition, so
they reach the receiver in the order the bus decided them.
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from bus.bridge.metrics import BridgeMetrics
from bus.bridge.poster import WebhookPoster
from bus.bridge.verdict import Verdict
from bus.bridge.webhook_request import webhook_request
from bus.envelope.errors import EnvelopeError
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import consumer_group_prefix, delivery_topic
from bus.keys import KeyStore
from consumers.dead_letters import DeadLetters, position
from consumers.delivery_check import DeliveryRefusedError, check_delivery
from consumers.not_authorized import refusals_explained

log = logging.getLogger(__name__)
# Dead-letter reasons of the bridge's own (verification failures keep the SDK's reasons).
WEBHOOK_REFUSED = "WEBHOOK_REFUSED"  # a 3xx or 4xx other than 408/429: retrying cannot help
WEBHOOK_FAILED = "WEBHOOK_FAILED"  # no 2xx within the retry bound
DEFAULT_GROUP = "webhook-bridge"
PROGRESS_EVERY_S = 10.0


@dataclass
class BridgeStats:
    """Counts since start, for progress lines and tests."""

    posted: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.posted} posted, dead-lettered {self.dead_lettered or 'none'}"


class WebhookBridge:
    """One agency's deliveries, for `purposes`, to one receiver.

    Parameters:
        agency: the consuming agency; its delivery and dead-letter topics are named after it.
        connection: the broker address and the agency's own credentials.
        keys: the producers' public keys, to verify each delivery's signature.
        purposes: the purposes whose delivery topics it reads.
        poster: sends each verified delivery to the receiver.
        metrics: counts for Prometheus.
        group: the consumer group's name after the agency's prefix (`<agency>.<group>`).
        max_batch: at most this many records are fetched at once; offsets are committed per batch.
    """

    def __init__(
        self,
        agency: str,
        connection: KafkaConnection,
        keys: KeyStore,
        purposes: Sequence[str],
        poster: WebhookPoster,
        metrics: BridgeMetrics,
        *,
        group: str = DEFAULT_GROUP,
        max_batch: int = 100,
    ) -> None:
        self.agency = agency
        self._connection = connection
        self._keys = keys
        self._purposes = {delivery_topic(agency, p): p for p in purposes}
        self._poster = poster
        self._metrics = metrics
        self._group = f"{consumer_group_prefix(agency)}{group}"
        self._max_batch = max_batch
        self.stats = BridgeStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Bridge until `stop` is set: the request in hand is finished and what was done is
        committed first. ConsumerNotAuthorizedError if the broker refuses the agency its topics."""
        consumer = AIOKafkaConsumer(
            *sorted(self._purposes),
            **self._connection.aiokafka_kwargs(),
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        dead_letters = DeadLetters(self.agency, self._connection)
        try:
            with refusals_explained(self._connection.username, sorted(self._purposes), self._group):
                await dead_letters.start()
                await consumer.start()
                log.info("bridging %s to %s", sorted(self._purposes), self._poster.url)
                await self._loop(consumer, dead_letters, stop)
        finally:
            await consumer.stop()
            await dead_letters.stop()
        log.info("stopped: %s", self.stats)

    async def _loop(
        self, consumer: AIOKafkaConsumer, dead_letters: DeadLetters, stop: asyncio.Event
    ) -> None:
        reported = time.monotonic()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=self._max_batch)
            done = await asyncio.gather(
                *(self._partition(records, dead_letters, stop) for records in batches.values())
            )
            offsets = {tp: last + 1 for tp, last in zip(batches, done, strict=True) if last >= 0}
            if offsets:
                await _commit(consumer, offsets)
            for tp, offset in offsets.items():
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    self._metrics.lag.labels(tp.topic, str(tp.partition)).set(highwater - offset)
            if time.monotonic() - reported >= PROGRESS_EVERY_S:
                log.info("progress: %s", self.stats)
                reported = time.monotonic()

    async def _partition(
        self,
        records: list[ConsumerRecord[bytes, bytes]],
        dead_letters: DeadLetters,
        stop: asyncio.Event,
    ) -> int:
        """Bridge `records` (one partition's) in order; the offset of the last one finished, or
        -1 if none was."""
        last = -1
        for record in records:
            if stop.is_set() or not await self._bridge(record, dead_letters, stop):
                break
            last = record.offset
        return last

    async def _bridge(
        self, record: ConsumerRecord[bytes, bytes], dead_letters: DeadLetters, stop: asyncio.Event
    ) -> bool:
        """POST or dead-letter `record`; False if `stop` interrupted its retries."""
        headers = list(record.headers or ())
        try:
            checked = check_delivery(
                record.value, headers, self._keys, self._purposes[record.topic]
            )
        except (EnvelopeError, DeliveryRefusedError) as exc:  # never POSTed
            await self._park(dead_letters, record, exc.reason, str(exc), 0)
            return True
        outcome = await self._poster.post(webhook_request(checked, headers), stop)
        if outcome is None:
            return False
        if outcome.verdict is Verdict.DELIVERED:
            self.stats.posted += 1
            self._metrics.posted.inc()
            return True
        reason = WEBHOOK_REFUSED if outcome.verdict is Verdict.REFUSED else WEBHOOK_FAILED
        detail = f"{outcome.detail} (POST {self._poster.url}, {outcome.attempts} attempts)"
        await self._park(dead_letters, record, reason, detail, outcome.attempts)
        return True

    async def _park(
        self,
        dead_letters: DeadLetters,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        detail: str,
        attempts: int,
    ) -> None:
        log.warning(
            "dead-lettered: %s (%s)",
            reason,
            detail,
            extra={"reason": reason, "input": position(record)},
        )
        await dead_letters.park(record, reason, detail, attempts)
        self.stats.dead_lettered[reason] = self.stats.dead_lettered.get(reason, 0) + 1
        self._metrics.dead_letters.labels(reason).inc()


async def _commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    try:
        await consumer.commit(offsets)
    except CommitFailedError as exc:
        # The partitions moved to another member, which POSTs them again: same idempotency keys.
        log.warning("offset commit failed (%s); the receiver will see those again", exc)
