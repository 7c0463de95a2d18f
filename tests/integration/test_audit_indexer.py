"""`bus audit index` on the real broker: every committed audit record stored exactly once, in a
chain that verifies; aborted transactions stay out; kill -9 mid-stream loses and repeats nothing,
and every checkpoint it signed reaches the witness topic (none twice as different ones)."""

import asyncio
import hashlib
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from bus.audit.audit_key import (
    AuditKeyFiles,
    ensure_audit_key,
    load_audit_public_key,
    load_pinned_key,
)
from bus.audit.indexer import IndexerOptions, run_indexer
from bus.audit.indexer_access import (
    grant_indexer,
    indexer_connection,
    verifier_connection,
)
from bus.audit.indexer_metrics import IndexerMetrics
from bus.audit.store import AuditStore, open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.verify import verify_store
from bus.audit.witness import read_witness
from bus.cli.main import app
from bus.control.service_principals import (
    INDEXER_USER,
    VERIFIER_USER,
    indexer_acls,
    verifier_acls,
)
from bus.errors import BrokerError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import POLICY_TOPIC, checkpoints_topic
from tests.support.audit_stores import RawSql
from tests.support.audit_topic import produce, produce_aborted
from tests.support.child_processes import ChildProcesses


@pytest.fixture
def store_url(store_location: tuple[str, RawSql]) -> str:
    return store_location[0]


async def test_committed_records_are_stored_once_and_aborted_ones_never(
    kafka_broker: KafkaConnection,
    topic_factory: object,
    store_url: str,
    tmp_path: Path,
) -> None:
    topic = topic_factory("audit", partitions=3)  # type: ignore[operator]
    policy_topic = topic_factory("policy")  # type: ignore[operator]
    await produce(kafka_broker, topic, 0, 1_200)
    await produce_aborted(kafka_broker, topic, 50)
    document = b'{"agencies": []}'
    await produce_policy(kafka_broker, policy_topic, document)
    files = AuditKeyFiles.in_directory(tmp_path / "keys")
    checkpointing = Checkpointing(ensure_audit_key(files), every_records=500)
    store = open_store(store_url)
    try:
        options = IndexerOptions(audit_topic=topic, policy_topic=policy_topic, until_caught_up=True)
        registry = CollectorRegistry()
        first = await run_indexer(
            kafka_broker,
            store,
            checkpointing,
            asyncio.Event(),
            options,
            metrics=IndexerMetrics(registry),
        )
        assert (first.stored, first.snapshots, first.caught_up) == (1_200, 1, True)
        metric = registry.get_sample_value
        assert metric("bus_audit_records_stored_total") == 1_200
        assert metric("bus_audit_policy_snapshots_stored_total") == 1
        signed = [seq for (seq,) in store.backend.fetch("SELECT seq FROM checkpoints ORDER BY seq")]
        assert {500, 1_000, 1_200} <= set(signed)  # every 500, and the newest on leaving
        assert metric("bus_audit_checkpoints_signed_total") == first.checkpoints == len(signed)
        assert metric("bus_audit_chain_head_seq") == 1_200
        assert metric("bus_audit_unsigned_records") == 0
        lags = [
            metric("bus_audit_indexer_lag_records", {"topic": topic, "partition": str(p)})
            for p in range(3)
        ]
        assert lags == [0, 0, 0]  # the aborted records and their markers count as read
        assert (metric("bus_audit_append_seconds_count") or 0) >= 2
        await produce(kafka_broker, topic, 1_200, 300)
        second = await run_indexer(kafka_broker, store, checkpointing, asyncio.Event(), options)
        assert second.stored == 300  # only the new ones: the positions came from the store

        assert store.count() == 1_500
        offsets = store.backend.fetch(
            "SELECT count(DISTINCT source_partition * 1000000 + source_offset) FROM decisions"
        )
        assert offsets[0][0] == 1_500
        event_ids = store.backend.fetch("SELECT count(DISTINCT event_id) FROM decisions")[0][0]
        assert event_ids == 1_500  # none of the aborted transaction's 900,000+ ids
        report = verify_store(store, load_audit_public_key(files))
        assert report.intact, report.finding
        assert report.unsigned_tail == 0  # leaving signed the newest record
        stored_hashes = store.backend.fetch("SELECT hash, document FROM policy_snapshots")
        assert [(h, bytes(d)) for h, d in stored_hashes] == [(sha256_name(document), document)]
    finally:
        store.close()


def sha256_name(document: bytes) -> str:
    return "sha256:" + hashlib.sha256(document).hexdigest()


async def produce_policy(connection: KafkaConnection, topic: str, document: bytes) -> None:
    producer = AIOKafkaProducer(**connection.aiokafka_kwargs(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, document, key=sha256_name(document).encode())
    finally:
        await producer.stop()


RECORDS, KILLS = 20_000, 3


def wait_until_stored(store: AuditStore, count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while store.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.slow
async def test_kill_9_mid_stream_loses_and_repeats_nothing(
    kafka_broker: KafkaConnection,
    topic_factory: object,
    store_url: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    children: ChildProcesses,
) -> None:
    topic = topic_factory("audit", partitions=3)  # type: ignore[operator]
    witness_topic = topic_factory(name=checkpoints_topic(topic))  # type: ignore[operator]
    await produce(kafka_broker, topic, 0, RECORDS)
    # `bus audit index` runs as audit-indexer from its profile: the operator grants it the topics.
    grant_indexer(KafkaAdmin(kafka_broker), topic, POLICY_TOPIC, witness_topic)
    key_dir = tmp_path / "keys"
    pinned = tmp_path_factory.mktemp("trust") / "audit.pub.pem"  # outside the store's folder
    log = tmp_path / "indexer.log"
    command = [
        str(Path(sys.executable).parent / "bus"),
        "audit",
        "index",
        "--store",
        store_url,
        "--topic",
        topic,
        "--key-dir",
        str(key_dir),
        "--pinned-key",
        str(pinned),
        "--max-batch",
        "250",
        "--checkpoint-every",
        "1000",
    ]

    def start(*extra: str) -> "subprocess.Popen[bytes]":
        with log.open("ab") as out:
            return children.track(
                subprocess.Popen([*command, *extra], stdout=out, stderr=subprocess.STDOUT)
            )

    store = open_store(store_url)
    try:
        kills_at = []
        for kill in range(1, KILLS + 1):
            process = start()
            target = RECORDS * kill // (KILLS + 1)
            wait_until_stored(store, target)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills_at.append(store.count())
        assert kills_at == sorted(kills_at)
        assert kills_at[0] > 0, (
            f"the indexer stored nothing before the first kill: {log.read_text()}"
        )
        assert kills_at[-1] < RECORDS, "the kills came too late to interrupt anything"
        final = start("--once")
        assert final.wait(timeout=180) == 0, log.read_text()

        assert store.count() == RECORDS
        distinct = store.backend.fetch(
            "SELECT count(DISTINCT source_partition * 1000000 + source_offset) FROM decisions"
        )[0][0]
        assert distinct == RECORDS
        # Published after each commit, re-published at each start: the witness holds every
        # checkpoint the store holds, a checkpoint sent twice around a kill is the same one.
        public = load_pinned_key(pinned, AuditKeyFiles.in_directory(key_dir))
        witness = await read_witness(kafka_broker, witness_topic, public)
        assert not witness.rejected
        by_seq = {cp.seq: cp for cp in witness.checkpoints}
        assert len(by_seq) == len({(cp.seq, cp.chain_hash) for cp in witness.checkpoints})
        assert sorted(by_seq.values(), key=lambda cp: cp.seq) == store.checkpoints()
        report = verify_store(store, public, witness=witness)
        assert report.intact, report.finding
        assert report.head_seq == RECORDS
        assert report.witnessed == len(witness.checkpoints)
    finally:
        store.close()


async def test_the_indexer_user_reads_its_two_topics_and_writes_only_its_witness(
    kafka_admin: KafkaAdmin,
    kafka_broker: KafkaConnection,
    topic_factory: object,
    tmp_path: Path,
) -> None:
    audit = topic_factory("audit")  # type: ignore[operator]
    policy = topic_factory("policy")  # type: ignore[operator]
    witness_topic = topic_factory(name=checkpoints_topic(audit))  # type: ignore[operator]
    other = topic_factory("ingress")  # type: ignore[operator]
    await produce(kafka_broker, audit, 0, 10)
    await produce(kafka_broker, other, 0, 10)
    connection = indexer_connection(kafka_admin, audit, policy)
    assert connection.username == INDEXER_USER
    files = AuditKeyFiles.in_directory(tmp_path / "k")
    checkpointing = Checkpointing(ensure_audit_key(files))
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        options = IndexerOptions(
            audit_topic=audit,
            policy_topic=policy,
            checkpoint_topic=witness_topic,
            until_caught_up=True,
        )
        state = await run_indexer(connection, store, checkpointing, asyncio.Event(), options)
        assert state.stored == 10
        # It published its checkpoint; the verifier reads it, and may do nothing else.
        verifier = verifier_connection(kafka_admin, witness_topic)
        assert verifier.username == VERIFIER_USER
        witness = await read_witness(
            verifier, witness_topic, load_audit_public_key(files), wait_s=20
        )
        assert [cp.seq for cp in witness.checkpoints] == [10]
        elsewhere = replace(options, audit_topic=other, start_wait_s=2.0)
        other_store = open_store(f"sqlite:///{tmp_path / 'other.db'}")  # this one is bound to audit
        try:
            with pytest.raises(BrokerError, match="TopicAuthorizationFailed"):
                await run_indexer(
                    connection, other_store, checkpointing, asyncio.Event(), elsewhere
                )
        finally:
            other_store.close()
    finally:
        store.close()
    for user, forbidden in ((connection, audit), (verifier, witness_topic), (verifier, audit)):
        producer = AIOKafkaProducer(**user.aiokafka_kwargs())
        await producer.start()
        try:
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(forbidden, b"{}")
        finally:
            await producer.stop()


def test_the_indexer_never_grants_itself_an_audit_topic_the_operator_does(
    kafka_broker: KafkaConnection,
    kafka_admin: KafkaAdmin,
    topic_factory: object,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # `bus audit index` runs as audit-indexer from its profile: on an audit topic of another name
    # it is refused, saying who grants it; `bus audit grant-indexer`, as the operator, does.
    topic = topic_factory("audit")  # type: ignore[operator]
    witness_topic = topic_factory(name=checkpoints_topic(topic))  # type: ignore[operator]
    asyncio.run(produce(kafka_broker, topic, 0, 5))
    pinned = tmp_path_factory.mktemp("trust") / "audit.pub.pem"
    index = [
        "audit",
        "index",
        "--once",
        "--store",
        f"sqlite:///{tmp_path / 'audit.db'}",
        "--topic",
        topic,
        "--key-dir",
        str(tmp_path / "keys"),
        "--pinned-key",
        str(pinned),
        "--metrics-port",
        "0",
    ]
    runner = CliRunner()
    # Only those on the test's own topics: READ on bus.policy is the lab's, and stays.
    acls = {
        acl
        for acl in indexer_acls(topic, POLICY_TOPIC, witness_topic) | verifier_acls(witness_topic)
        if acl.name in (topic, witness_topic)
    }
    try:
        refused = runner.invoke(app, index)
        said = refused.output + str(refused.exception)
        assert refused.exit_code == 1, said
        assert f"as {INDEXER_USER}" in said
        assert "`bus audit grant-indexer --topic TOPIC`" in said
        assert not acls & kafka_admin.describe_acls_of(f"User:{INDEXER_USER}")

        granted = runner.invoke(app, ["audit", "grant-indexer", "--topic", topic])
        assert granted.exit_code == 0, granted.output + str(granted.exception)
        assert f"audit-indexer reads {topic}" in granted.output
        held = kafka_admin.describe_acls_of(f"User:{INDEXER_USER}") | (
            kafka_admin.describe_acls_of(f"User:{VERIFIER_USER}")
        )
        assert acls <= held

        indexed = runner.invoke(app, index)
        assert indexed.exit_code == 0, indexed.output + str(indexed.exception)
        assert "5 record(s) stored" in indexed.output
    finally:
        kafka_admin.delete_acls(acls)
