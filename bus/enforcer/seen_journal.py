"""Where the accepted event ids of each input partition survive restarts and rebalances: a journal
topic per enforcer group and ingress topic, same partition count, one record per transaction
listing the (source, event id, input offset) it accepted, written in that very transaction.

Why a journal and not the audit topic: the audit topic is keyed by event id and shared by every
ingress topic, so rebuilding one input partition would mean reading the whole audit trail; the
journal partition holds exactly that input partition's acceptances, one small record per batch.
Why it is exactly-once: a journal record commits or aborts with the input offsets of its batch,
so after a crash the journal never names a record the committed offset does not cover, and the
replayed record cannot look like a duplicate of itself. Retention bounds it in time; the
in-memory ring bounds it in count.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from confluent_kafka import Consumer, TopicPartition

from bus.enforcer.observer import Partition
from bus.enforcer.seen_events import SeenEvents, SeenInBatch
from bus.enforcer.txn_producer import TransactionalProducer
from bus.errors import BrokerError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.partition_range import range_reader, read_range
from bus.kafka.topics import INGRESS_PREFIX, SEEN_EVENTS_PREFIX

log = logging.getLogger(__name__)
FIRST_WINDOW = 1_024  # journal offsets read first when rebuilding, doubling until enough ids
_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SeenEventsConfig:
    """The DUPLICATE_EVENT horizon: a republication is caught if at most `capacity` other events
    were accepted on its input partition in between, and within `max_age` (the journal's retention).
    Set by `bus enforce --duplicate-horizon-ids/--duplicate-horizon-days`. Memory grows with
    `capacity` per assigned partition, and a restart reads the newest `capacity` ids of each
    partition's journal back (benchmarks/seen_events.py measures both)."""

    capacity: int = 100_000
    max_age: timedelta = timedelta(days=7)


Entry = tuple[str, str, int]  # (source, event id, input offset)


class _Entries(msgspec.Struct, forbid_unknown_fields=True):
    accepted: list[Entry]


_decode = msgspec.json.Decoder(_Entries).decode


def seen_events_topic(group: str, ingress: str) -> str:
    """The group's journal: what one enforcer group accepted is its own processing state."""
    return f"{SEEN_EVENTS_PREFIX}{group}.{ingress.removeprefix(INGRESS_PREFIX)}"


def ensure_journals(
    admin: KafkaAdmin, group: str, ingress: Iterable[str], config: SeenEventsConfig
) -> None:
    """One journal per existing ingress topic, with as many partitions; retention = horizon."""
    topic_config = {
        "cleanup.policy": "delete",
        "retention.ms": str(int(config.max_age.total_seconds() * 1000)),
    }
    for topic in ingress:
        partitions = admin.partition_count(topic)
        journal = seen_events_topic(group, topic)
        try:
            if partitions:
                admin.ensure_topics([journal], partitions, topic_config)
                # An existing journal keeps the retention it was created with otherwise.
                admin.ensure_topic_config([journal], topic_config)
                if admin.partition_count(journal) < partitions:  # the ingress topic grew
                    admin.grow_partitions(journal, partitions)
        except BrokerError:
            # Fine if another instance of the group did the same at the same moment.
            if admin.partition_count(journal) < partitions:
                raise


def journal(producer: TransactionalProducer, group: str, tp: Partition, batch: SeenInBatch) -> None:
    """Inside the open transaction: the batch's acceptances, to the input partition's journal."""
    if batch.entries:
        value = msgspec.json.encode(_Entries(batch.entries))
        topic, partition = tp
        producer.produce(seen_events_topic(group, topic), value, None, partition=partition)


def rebuild(
    connection: KafkaConnection,
    group: str,
    partitions: Iterable[Partition],
    config: SeenEventsConfig,
    now: datetime,
) -> dict[Partition, SeenEvents]:
    """The memory of each input partition, from its journal: the newest `capacity` ids of
    committed records within max_age."""
    memories = {tp: SeenEvents(config.capacity) for tp in partitions}
    if not memories:
        return memories
    reader = range_reader(connection, f"{group}.journal-reader")
    try:
        since = int((now - config.max_age).timestamp() * 1000)
        sources = {(seen_events_topic(group, t), p): (t, p) for t, p in memories}
        wanted = [TopicPartition(j, p, since) for j, p in sources]
        for start in reader.offsets_for_times(wanted, _TIMEOUT_S):
            j = TopicPartition(start.topic, start.partition)
            _, end = reader.get_watermark_offsets(j, _TIMEOUT_S)
            floor = end if start.offset < 0 else start.offset
            memory = memories[sources[(start.topic, start.partition)]]
            for entries in _newest(reader, j, floor, end, config.capacity):
                for source, event_id, offset in entries:
                    memory.add(memory.fingerprint(source, event_id), offset)
    finally:
        reader.close()
    return memories


def _newest(
    reader: Consumer, journal: TopicPartition, floor: int, end: int, wanted: int
) -> list[list[Entry]]:
    """The journal records of [floor, end) holding the newest `wanted` ids, oldest first. Read
    backwards in doubling windows: a record lists one batch (one id or hundreds), and each
    transaction's commit marker takes an offset too, so offsets do not count ids. The first
    window is small, so full batches are not read far beyond what is wanted."""
    windows: list[list[list[Entry]]] = []
    found, high, span = 0, end, min(wanted, FIRST_WINDOW)
    while high > floor and found < wanted:
        low = max(floor, high - span)
        window = _read(reader, journal, low, high)
        windows.append(window)
        found += sum(len(entries) for entries in window)
        high, span = low, span * 2
    return [entries for window in reversed(windows) for entries in window]


def _read(reader: Consumer, journal: TopicPartition, low: int, high: int) -> list[list[Entry]]:
    """The records of [low, high)."""
    where = f"{journal.topic}/{journal.partition}"
    return [
        _entries(m.value(), f"{where}/{m.offset()}")
        for m in read_range(reader, journal.topic, journal.partition, low, high)
    ]


def _entries(value: bytes | None, position: str) -> list[Entry]:
    try:
        return _decode(value or b"").accepted
    except msgspec.DecodeError:
        log.error("unreadable seen-events journal record at %s: skipped", position)
        return []
