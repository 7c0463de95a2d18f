"""The consumers' erasure records into the audit store: every agency's erasures topic
(bus.erasures.<agency>), read from where the store stopped, each record kept under the agency
whose topic carried it (the topic's ACL lets only that agency write it; the record's own words
cannot name another). Unreadable records are counted and skipped: an agency's bytes never stop
the reading. The data-subject report joins what is kept to its PERMIT decisions.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError

from bus.audit.store.audit_store import AuditStore
from bus.audit.store.erasures import StoredErasure
from bus.kafka.connection import KafkaConnection
from bus.kafka.position import record_position
from bus.kafka.reading import topic_names, topics_reader
from bus.kafka.seeking import seek_to_stored
from bus.kafka.topics import ERASURES_PREFIX
from bus.record.erasure_record import ErasureRecord, ErasureRecordError

log = logging.getLogger(__name__)


@dataclass
class ErasureProgress:
    """What one `index_erasures` read: records kept, unreadable records skipped, topics read."""

    stored: int = 0
    unreadable: int = 0
    topics: int = 0


async def index_erasures(connection: KafkaConnection, store: AuditStore) -> ErasureProgress:
    """Read every erasures topic the principal may read, up to its end at the start, into
    `store`; returns the counts. Run it after the audit indexer, or periodically beside it."""
    progress = ErasureProgress()
    topics = await topic_names(connection, ERASURES_PREFIX)
    if not topics:
        return progress
    async with topics_reader(connection, topics) as (consumer, partitions):
        progress.topics = len({tp.topic for tp in partitions})
        await seek_to_stored(consumer, partitions, await asyncio.to_thread(store.erasure_positions))
        ends = await consumer.end_offsets(partitions)
        while not all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
            batches = await consumer.getmany(timeout_ms=500, max_records=5_000)
            erasures = [
                e for tp in sorted(batches) for r in batches[tp] if (e := _read(r, progress))
            ]
            positions = {(tp.topic, tp.partition): rs[-1].offset + 1 for tp, rs in batches.items()}
            if positions:
                await asyncio.to_thread(store.append_erasures, erasures, positions)
                progress.stored += len(erasures)
    return progress


def _read(record: ConsumerRecord[bytes, bytes], progress: ErasureProgress) -> StoredErasure | None:
    try:
        erasure = ErasureRecord.from_json_bytes(record.value or b"")
    except ErasureRecordError as exc:
        progress.unreadable += 1
        where = record_position(record.topic, record.partition, record.offset)
        log.warning("an erasure record is not readable; skipped", extra={"input": where})
        log.debug("unreadable erasure record at %s: %s", where, exc)
        return None
    return StoredErasure(record.topic.removeprefix(ERASURES_PREFIX), erasure)


async def keep_erasures_indexed(
    connection: KafkaConnection, store: AuditStore, stop: asyncio.Event, every_s: float = 30.0
) -> ErasureProgress:
    """`index_erasures` now and every `every_s` seconds, and once more when `stop` is set; a
    broker error is logged and tried again at the next round (the audit indexer keeps running)."""
    total = ErasureProgress()
    while True:
        try:
            done = await index_erasures(connection, store)
        except KafkaError as exc:
            log.warning("erasure records not read this round: %r", exc)
        else:
            total.stored += done.stored
            total.unreadable += done.unreadable
            total.topics = done.topics
        if stop.is_set():
            return total
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
