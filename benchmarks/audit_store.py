"""Audit store benchmark: ingest decisions/s, and p50/p95 of the data-subject report and of a
filtered listing at N stored decisions, on SQLite and on PostgreSQL.

    .venv/bin/python -m benchmarks.audit_store [--decisions 1000000] [--stores sqlite,postgresql]

Ingest: `AuditStore.append` in batches of 5,000 (the indexer's batch), hash chain, columns,
indexes, a checkpoint signed every 1,000 records; record generation is outside the timing.
Baseline in the same run, same database: the same bytes inserted bare (seq + record, no index, no
chain), so the ratio shows what the audit store's work costs on this machine.
Queries, each timed alone after a warm-up, over random people and filters:
- subject report: `subject_report()` for one of 100,000 people (≈ N / 100,000 decisions each);
- filtered listing: one page (100) of decisions for a consumer × outcome, and the next page;
- baseline: a primary-key lookup of one decision, the floor of a round trip here.
Indexer (`--indexer-records N`, needs the broker): `bus audit index`'s loop from a topic of N
audit records into a fresh SQLite store, then `bus audit reconcile` of that store against the
topic, both against reading the same topic to its end (baseline).
Targets: ingest ≥ 20,000 decisions/s; subject report p95 ≤ 50 ms.
PostgreSQL: the project's own server (`bus postgres up`), in a schema made and dropped here.
"""

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bus.audit.audit_key import AuditKeyFiles, ensure_audit_key
from bus.audit.indexer import IndexerOptions, run_indexer
from bus.audit.reconcile import reconcile
from bus.audit.store import AuditStore, DecisionFilter, open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.subject_report import subject_report
from bus.control.topology import INGRESS_PARTITIONS
from bus.devenv import broker
from bus.kafka.admin import KafkaAdmin
from bus.kafka.reading import read_all
from bus.kafka.settings import load_kafka_settings
from bus.record.audit_record import AUDIT_AUDIENCE
from tests.support.audit_records import CONSUMERS, PSEUDONYMS, person, source_records
from tests.support.audit_stores import postgres_store_url, sqlite_store_url

BATCH = 5_000
PEOPLE = 100_000
QUERIES = 300
NOW = datetime(2026, 11, 23, tzinfo=UTC)


@dataclass(frozen=True)
class Latency:
    what: str
    p50_ms: float
    p95_ms: float
    n: int


def latency(what: str, run: Callable[[int], object], n: int = QUERIES) -> Latency:
    for i in range(20):  # warm-up
        run(i)
    timings = []
    for i in range(n):
        started = time.perf_counter()
        run(i)
        timings.append((time.perf_counter() - started) * 1e3)
    ordered = sorted(timings)
    return Latency(what, statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1], n)


def ingest(store: AuditStore, key_dir: Path, decisions: int) -> float:
    checkpointing = Checkpointing(ensure_audit_key(AuditKeyFiles.in_directory(key_dir)), 1_000)
    elapsed = 0.0
    for first in range(0, decisions, BATCH):
        records = source_records(min(BATCH, decisions - first), first=first, people=PEOPLE)
        started = time.perf_counter()
        store.append(records, NOW, checkpointing)
        elapsed += time.perf_counter() - started
        if first % 100_000 == 0:
            print(f"  … {first + len(records):,} stored", flush=True)
    return decisions / elapsed


def bare_insert(store: AuditStore, decisions: int) -> float:
    backend = store.backend
    with backend.transaction():
        backend.execute(
            f"CREATE TABLE bare (seq {backend.bigint} PRIMARY KEY, record {backend.blob})"
        )
    elapsed = 0.0
    for first in range(0, decisions, BATCH):
        rows = [(r.offset, r.value) for r in source_records(min(BATCH, decisions - first), first)]
        started = time.perf_counter()
        with backend.transaction():
            backend.insert_many("bare", ("seq", "record"), rows)
        elapsed += time.perf_counter() - started
    with backend.transaction():
        backend.execute("DROP TABLE bare")
    return decisions / elapsed


def queries(store: AuditStore) -> list[Latency]:
    rng = random.Random(7)
    people = [
        PSEUDONYMS.pseudonym(AUDIT_AUDIENCE, person(rng.randrange(PEOPLE)))
        for _ in range(QUERIES + 20)
    ]
    filters = [
        DecisionFilter(consumer=rng.choice(CONSUMERS), outcome=rng.choice(("PERMIT", "DENY")))
        for _ in range(QUERIES + 20)
    ]
    head = store.count()
    seqs = [rng.randrange(1, head + 1) for _ in range(QUERIES + 20)]

    def next_page(i: int) -> object:
        page = store.find(filters[i], limit=100)
        return store.find(filters[i], limit=100, before_seq=page[-1].seq)

    return [
        latency("primary-key lookup (baseline)", lambda i: store.get(seqs[i])),
        latency("subject report", lambda i: subject_report(store, people[i], NOW)),
        latency(
            "listing: consumer × outcome, first page", lambda i: store.find(filters[i], limit=100)
        ),
        latency("listing: first + next page", next_page),
    ]


@contextmanager
def stores(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        with sqlite_store_url(directory) as (url, _raw):
            yield url
    else:
        from bus.devenv.postgres import up

        with postgres_store_url(up(say=lambda _line: None)) as (url, _raw):
            yield url


async def indexer_rate(records: int, directory: Path) -> tuple[float, float, float]:
    """(indexer, reconcile, plain read) in records/s over one topic of `records` audit records."""
    settings = load_kafka_settings()
    broker.up(settings, say=lambda _line: None)
    connection = broker.admin_connection(settings)
    admin = KafkaAdmin(connection)
    topic = f"bench-audit-{uuid.uuid4().hex[:8]}"
    admin.create_topics([topic], partitions=INGRESS_PARTITIONS)
    try:
        producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all", linger_ms=20)
        await producer.start()
        try:
            for first in range(0, records, BATCH):
                sent = [await producer.send(topic, r.value) for r in source_records(BATCH, first)]
                await asyncio.gather(*sent)
        finally:
            await producer.stop()
        started = time.perf_counter()
        read = sum([1 async for _ in read_all(connection, topic)])
        plain = read / (time.perf_counter() - started)
        store = open_store(f"sqlite:///{directory / 'indexer.db'}")
        checkpointing = Checkpointing(
            ensure_audit_key(AuditKeyFiles.in_directory(directory / "ik"))
        )
        options = IndexerOptions(audit_topic=topic, policy_topic=None, until_caught_up=True)
        started = time.perf_counter()
        state = await run_indexer(connection, store, checkpointing, asyncio.Event(), options)
        indexed = state.stored / (time.perf_counter() - started)
        started = time.perf_counter()
        report = await reconcile(connection, store, topic)
        reconciled = report.compared / (time.perf_counter() - started)
        if not report.consistent or report.compared != records:
            raise RuntimeError(f"the indexed store does not reconcile: {report}")
        store.close()
        return indexed, reconciled, plain
    finally:
        admin.delete_topics([topic])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--indexer-records", type=int, default=0, help="0: skip (no broker needed)")
    args = parser.parse_args()
    if args.indexer_records:
        with tempfile.TemporaryDirectory() as tmp:
            indexed, reconciled, plain = asyncio.run(indexer_rate(args.indexer_records, Path(tmp)))
        print(
            f"indexer (Kafka → SQLite, {args.indexer_records:,} records): {indexed:,.0f}/s; "
            f"reading the topic alone {plain:,.0f}/s; ratio {indexed / plain:.2f}\n"
            f"reconcile (topic against that store): {reconciled:,.0f}/s; "
            f"ratio to reading alone {reconciled / plain:.2f}",
            flush=True,
        )
    for kind in filter(None, args.stores.split(",")):
        with tempfile.TemporaryDirectory() as tmp, stores(kind, Path(tmp)) as url:
            store = open_store(url)
            try:
                print(f"{kind}: ingesting {args.decisions:,} decisions", flush=True)
                rate = ingest(store, Path(tmp) / "keys", args.decisions)
                bare = bare_insert(store, min(args.decisions, 200_000))
                print(
                    f"{kind}: ingest {rate:,.0f} decisions/s; bare insert of the same bytes "
                    f"{bare:,.0f}/s; ratio {rate / bare:.2f}",
                    flush=True,
                )
                for row in queries(store):
                    print(
                        f"{kind}: {row.what}: p50 {row.p50_ms:.2f} ms, p95 {row.p95_ms:.2f} ms (n={row.n})"
                    )
            finally:
                store.close()


if __name__ == "__main__":
    main()
