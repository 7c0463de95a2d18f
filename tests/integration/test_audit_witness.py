"""The audit trail's witness on the real broker: every checkpoint the indexer signs is also on an
append-only topic, and `verify` and `reconcile` hold the store against it and against the key
pinned outside the store. The tampering here is what an operator who can edit the database and
read its files (the audit key included) can do; each case passes the store's own checks, which is
what `verify` relied on before, and is named once the witness and the pin are consulted."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from bus.audit.api.server import witness_reader
from bus.audit.audit_key import (
    AuditKeyFiles,
    ensure_audit_key,
    load_audit_public_key,
    load_pinned_key,
    pin_audit_key,
)
from bus.audit.chain import link
from bus.audit.checkpoint import DEFAULT_CADENCE, sign_checkpoint
from bus.audit.columns import columns_of
from bus.audit.indexer import IndexerOptions, IndexerProgress, run_indexer
from bus.audit.indexer_access import (
    VERIFIER_ROLE,
    grant_indexer,
    indexer_connection,
    verifier_connection,
)
from bus.audit.indexer_metrics import IndexerMetrics
from bus.audit.reconcile import Discrepancy, Mismatch, reconcile
from bus.audit.store import AuditStore, open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.verify import IntegrityReport, Tampering, publication_due, verify_store
from bus.audit.witness import Witness, read_witness
from bus.cli.main import app
from bus.control.service_principals import VERIFIER_USER
from bus.control.topology import ensure_checkpoints_topic
from bus.envelope.attributes import format_time, parse_time
from bus.errors import BusError, ConfigError
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.profile import default_profile_path
from bus.kafka.topics import POLICY_TOPIC, checkpoints_topic
from bus.keys import AgencySigningKey
from bus.keys.keystore import AgencyPublicKey
from tests.support.audit_records import audit_document, source_records
from tests.support.audit_stores import RawSql
from tests.support.audit_tampering import delete_and_rechain, delete_tail_and_lower_positions
from tests.support.audit_topic import produce
from tests.support.kafka import unique_name

INDEXED, EVERY, BACKLOG = 900, 100, 30


@dataclass
class Trail:
    """An audit topic indexed into a store, its witness topic, the key and where it is pinned."""

    connection: KafkaConnection
    topic: str
    witness_topic: str
    url: str
    raw: RawSql
    store: AuditStore
    files: AuditKeyFiles
    key: AgencySigningKey
    pinned_path: Path
    pinned: AgencyPublicKey

    async def witness(self) -> Witness:
        return await read_witness(self.connection, self.witness_topic, self.pinned)

    async def verify(self, now: datetime | None = None) -> IntegrityReport:
        witness = await self.witness()  # first: see verify_store
        return await asyncio.to_thread(verify_store, self.store, self.pinned, None, witness, now)

    async def index(self, **changes: Any) -> IndexerProgress:
        options = IndexerOptions(
            audit_topic=self.topic,
            policy_topic=None,
            checkpoint_topic=self.witness_topic,
            until_caught_up=True,
        )
        clock = changes.pop("clock", lambda: datetime.now(UTC))
        metrics = changes.pop("metrics", None)
        return await run_indexer(
            self.connection,
            self.store,
            Checkpointing(self.key, every_records=EVERY),
            asyncio.Event(),
            replace(options, **changes),
            clock=clock,
            metrics=metrics,
        )

    def verify_by_itself(self) -> IntegrityReport:
        """As `verify` did before: the store's own checkpoints, the key from the key folder."""
        return verify_store(self.store, load_audit_public_key(self.files))

    def cli(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args))
        error = f"error: {result.exception}" if isinstance(result.exception, BusError) else ""
        return result.exit_code, result.output + error


@pytest.fixture
async def trail(
    kafka_broker: KafkaConnection,
    topic_factory: Callable[..., str],
    store_location: tuple[str, RawSql],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Trail]:
    url, raw = store_location
    topic = topic_factory("audit", partitions=3)
    witness_topic = topic_factory(name=checkpoints_topic(topic))
    await produce(kafka_broker, topic, 0, INDEXED)
    # The CLI reads as audit-verifier and audit-indexer, from their profiles: the operator
    # grants them this trail's topics, as `bus audit grant-indexer` does.
    grant_indexer(KafkaAdmin(kafka_broker), topic, POLICY_TOPIC, witness_topic)
    files = AuditKeyFiles.in_directory(tmp_path / "store" / "keys")
    key = ensure_audit_key(files)
    pinned_path = tmp_path_factory.mktemp("trust") / "audit.pub.pem"  # outside the store's folder
    assert pin_audit_key(key, pinned_path, files)
    store = open_store(url)
    options = IndexerOptions(
        audit_topic=topic, policy_topic=None, checkpoint_topic=witness_topic, until_caught_up=True
    )
    checkpointing = Checkpointing(key, every_records=EVERY)
    try:
        await run_indexer(kafka_broker, store, checkpointing, asyncio.Event(), options)
        yield Trail(
            kafka_broker,
            topic,
            witness_topic,
            url,
            raw,
            store,
            files,
            key,
            pinned_path,
            load_pinned_key(pinned_path, files),
        )
    finally:
        store.close()


async def test_every_checkpoint_is_witnessed_and_an_untouched_store_verifies(trail: Trail) -> None:
    witness = await trail.witness()
    stored = trail.store.checkpoints()
    assert [cp.seq for cp in witness.checkpoints] == [cp.seq for cp in stored]
    assert witness.checkpoints == stored  # the same signed bytes, positions and cadence
    newest = witness.checkpoints[-1]
    assert newest.seq == INDEXED
    positions = {(t, p): o for (t, p), o in trail.store.positions().items() if t == trail.topic}
    assert {(t, p): o for t, p, o in newest.positions or ()} == positions
    report = await trail.verify()
    assert report.intact, report.finding
    assert report.witnessed == len(stored)


async def test_records_and_every_checkpoint_deleted_and_rechained_are_named(trail: Trail) -> None:
    # Records 301–350 go, with every checkpoint; the rest is renumbered, re-hashed and signed
    # again with the store's own audit key.
    witnessed = [cp.seq for cp in (await trail.witness()).checkpoints]
    delete_and_rechain(trail.raw, 301, 350, resign_with=trail.key, every=EVERY)
    before = trail.verify_by_itself()
    assert before.intact, "the store's own checks were expected to be fooled"

    report = await trail.verify()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.REWRITTEN, 301)
    first_after = min(seq for seq in witnessed if seq > 300)
    assert f"records 301–{first_after} were rewritten" in report.finding.message
    assert f"checkpoint on the witness topic at record {first_after}" in report.finding.message

    # Without re-signing: no checkpoint at all in the store any more.
    trail.raw("DELETE FROM checkpoints")
    report = await trail.verify()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.REWRITTEN, 301)

    # The CLI, as `audit-verifier`: exit 1, naming it. Its witness follows --topic, as the
    # indexer's and reconcile's do (the audit topic + .checkpoints).
    code, out = await asyncio.to_thread(
        trail.cli,
        "audit",
        "verify",
        "--store",
        trail.url,
        "--key-dir",
        str(trail.files.private.parent),
        "--pinned-key",
        str(trail.pinned_path),
        "--topic",
        trail.topic,
        "--json",
    )
    assert code == 1, out
    document = json.loads(out)
    assert (document["finding"]["kind"], document["finding"]["seq"]) == ("REWRITTEN", 301)
    assert document["witnessed"] == len(witnessed)


async def test_checkpoints_deleted_from_the_store_alone_are_named(trail: Trail) -> None:
    trail.raw("DELETE FROM checkpoints WHERE seq IN (?, ?)", (300, 700))
    report = await trail.verify()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.CHECKPOINT_MISSING, 300)
    assert "2 checkpoint(s) on the witness topic" in report.finding.message
    # Without the witness, the gap they leave is named all the same.
    kept = [0] + [cp.seq for cp in trail.store.checkpoints()]
    first_gap = next(a for a, b in pairwise(kept) if b - a > EVERY)
    gap = trail.verify_by_itself().finding
    assert gap is not None
    assert (gap.kind, gap.seq) == (Tampering.CHECKPOINT_GAP, first_gap + 1)
    assert first_gap < 300


async def test_the_tail_deleted_with_positions_lowered_is_named_not_mistaken_for_backlog(
    trail: Trail,
) -> None:
    await produce(trail.connection, trail.topic, INDEXED, BACKLOG)  # really not indexed yet
    delete_tail_and_lower_positions(trail.raw, trail.topic, after_seq=800)
    before = trail.verify_by_itself()
    assert before.intact, "the store's own checks were expected to be fooled"
    blind = await reconcile(trail.connection, trail.store, trail.topic)
    assert blind.consistent
    assert blind.not_indexed == INDEXED - 800 + BACKLOG

    report = await trail.verify()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.TRUNCATED, 801)
    assert f"(on the witness topic) signed record {INDEXED}" in report.finding.message

    witness = await trail.witness()
    found = await reconcile(trail.connection, trail.store, trail.topic, witness)
    assert not found.consistent
    assert found.counts[Mismatch.MISSING] == INDEXED - 800
    assert found.counts[Mismatch.LOWERED] >= 1
    assert found.not_indexed == BACKLOG
    assert found.witnessed_seq == INDEXED


async def test_positions_lowered_alone_are_named(trail: Trail) -> None:
    trail.raw("UPDATE source_positions SET next_offset = next_offset - 5 WHERE partition = 1")
    report = await trail.verify()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.POSITIONS_LOWERED, INDEXED)
    assert f"{trail.topic}[1]" in report.finding.message
    # The store signs its positions too: caught without the witness as well.
    alone = trail.verify_by_itself().finding
    assert alone is not None
    assert alone.kind is Tampering.POSITIONS_LOWERED


async def test_a_key_swapped_in_the_store_tree_fails_against_the_pinned_key(trail: Trail) -> None:
    # The operator puts a key of their own where the audit key was, rewrites and re-signs.
    trail.files.private.unlink()
    trail.files.public.unlink()
    swapped = ensure_audit_key(trail.files)
    delete_and_rechain(trail.raw, 301, 350, resign_with=swapped, every=EVERY)
    before = trail.verify_by_itself()
    assert before.intact, "the store's own checks were expected to be fooled"

    report = await trail.verify()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.KEY_MISMATCH, EVERY)
    assert swapped.kid in report.finding.message
    assert trail.pinned.kid in report.finding.message
    offline = verify_store(trail.store, trail.pinned).finding  # the pin alone suffices
    assert offline is not None
    assert offline.kind is Tampering.KEY_MISMATCH
    with pytest.raises(ConfigError, match="does not match the public key pinned"):
        pin_audit_key(swapped, trail.pinned_path, trail.files)  # the indexer refuses to start

    code, out = await asyncio.to_thread(
        trail.cli,
        "audit",
        "verify",
        "--store",
        trail.url,
        "--key-dir",
        str(trail.files.private.parent),
        "--pinned-key",
        str(trail.pinned_path),
        "--checkpoint-topic",
        trail.witness_topic,
    )
    assert code == 1, out
    assert "TAMPERED: KEY_MISMATCH" in out


async def test_checkpoints_left_unpublished_are_unwitnessed_past_the_grace_and_published_late(
    trail: Trail,
) -> None:
    # As if the indexer had died between its commits and publishing, an hour ago: checkpoints
    # in the store only. The store may be ahead of its witness while publishing is due, not after.
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await produce(trail.connection, trail.topic, INDEXED, 250)
    await trail.index(checkpoint_topic=None, clock=lambda: an_hour_ago)
    unpublished = [cp.seq for cp in trail.store.checkpoints(INDEXED)]
    assert unpublished == [1_000, 1_100, 1_150]
    assert (await trail.witness()).newest_seq == INDEXED
    due = publication_due(DEFAULT_CADENCE)
    within = await trail.verify(now=an_hour_ago + due)
    assert within.intact, within.finding
    report = await trail.verify()
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.UNWITNESSED, 1_000)
    assert "not on the witness topic" in report.finding.message

    registry = CollectorRegistry()
    await trail.index(metrics=IndexerMetrics(registry))
    witness = await trail.witness()
    assert [cp.seq for cp in witness.checkpoints] == [cp.seq for cp in trail.store.checkpoints()]
    assert registry.get_sample_value("bus_audit_witness_late_checkpoints_total") == 3
    assert (await trail.verify()).intact


async def test_a_rewritten_record_after_the_newest_witnessed_checkpoint_is_unwitnessed(
    trail: Trail,
) -> None:
    # Publishing stopped at record 900; whoever holds the key rewrote what came after and signed
    # it afresh, as of the moment the auditor looks: nothing outside the store vouches for it.
    await produce(trail.connection, trail.topic, INDEXED, 50)
    await trail.index(checkpoint_topic=None)
    witnessed_at = parse_time((await trail.witness()).checkpoints[-1].signed_at)
    later = witnessed_at + publication_due(DEFAULT_CADENCE) + timedelta(seconds=1)
    kept = trail.raw("SELECT * FROM checkpoints WHERE seq <= ?", (INDEXED,))
    delete_and_rechain(trail.raw, 920, 920, resign_with=None)
    trail.raw.many("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)", kept)
    head_seq, head_hash = trail.store.head()
    positions = tuple(sorted((t, p, o) for (t, p), o in trail.store.positions().items()))
    forged = sign_checkpoint(
        trail.key, head_seq, head_hash, format_time(later), positions, DEFAULT_CADENCE
    )
    trail.raw(
        "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            forged.seq,
            forged.chain_hash,
            forged.signed_at,
            forged.key_id,
            forged.signature,
            json.dumps(positions),
            DEFAULT_CADENCE.records,
            DEFAULT_CADENCE.ms,
        ),
    )
    assert trail.verify_by_itself().intact, "the store's own checks were expected to be fooled"
    report = await trail.verify(now=later)
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.UNWITNESSED, INDEXED + 1)
    assert f"records {INDEXED + 1}–{head_seq}" in report.finding.message


async def test_an_indexer_refuses_to_start_on_a_store_behind_its_witness(trail: Trail) -> None:
    trail.raw("DELETE FROM decisions WHERE seq > 800")
    trail.raw("DELETE FROM checkpoints WHERE seq > 800")
    await produce(trail.connection, trail.topic, INDEXED, 10)
    with pytest.raises(ConfigError, match="behind its witness topic") as refused:
        await trail.index()
    assert "the first at record 900" in str(refused.value)
    assert trail.store.head()[0] == 800  # nothing was indexed or signed over the gap


async def test_a_decision_made_up_in_the_database_under_another_source_is_extra(
    trail: Trail,
) -> None:
    # No key needed: a decision inserted at the head, correctly chained, claiming a source the
    # audit topic does not have; the indexer goes on, signs over it and publishes that.
    made_up = json.dumps(audit_document(999, consumer="framed-agency")).encode()
    head_seq, head_hash = trail.store.head()
    columns = columns_of(made_up)
    trail.raw(
        f"INSERT INTO decisions VALUES ({', '.join('?' * (7 + len(columns)))})",  # noqa: S608
        (
            head_seq + 1,
            "not.the.audit.topic",
            0,
            0,
            made_up,
            head_hash,
            link(head_hash, head_seq + 1, made_up),
            *columns,
        ),
    )
    await produce(trail.connection, trail.topic, INDEXED, 10)
    await trail.index()
    assert (await trail.verify()).intact  # a consistent, signed, witnessed chain

    found = await reconcile(trail.connection, trail.store, trail.topic, await trail.witness())
    assert dict(found.counts) == {Mismatch.EXTRA: 1}
    assert found.shown == [
        Discrepancy(Mismatch.EXTRA, 0, 0, head_seq + 1, foreign_topic="not.the.audit.topic")
    ]
    assert "no partition of the audit topic" in found.shown[0].describe(trail.topic)
    # Nor does the store take such a record from anyone going through it.
    elsewhere = source_records(1, topic="not.the.audit.topic")
    with pytest.raises(ConfigError, match=f"filled from the audit topic {trail.topic}"):
        trail.store.append(elsewhere, datetime.now(UTC))
    with pytest.raises(ConfigError, match="refusing records from"):
        await trail.index(audit_topic=unique_name("other-audit"))


def test_the_witness_topic_is_append_only_and_kept_forever(kafka_admin: KafkaAdmin) -> None:
    topic = unique_name("audit-checkpoints")
    assert ensure_checkpoints_topic(kafka_admin, topic) == [topic]
    try:
        config = kafka_admin.topic_config(topic)
        # Never compacted, never expired: as the broker has it, not as the constant says.
        assert (config["cleanup.policy"], config["retention.ms"]) == ("delete", "-1")
        assert config["retention.bytes"] == "-1"
    finally:
        kafka_admin.delete_topics([topic])


async def test_a_refused_publish_does_not_stop_indexing_and_is_caught_up_later(
    kafka_admin: KafkaAdmin,
    kafka_broker: KafkaConnection,
    topic_factory: Callable[..., str],
    tmp_path: Path,
) -> None:
    topic = topic_factory("audit", partitions=2)
    witness_topic = topic_factory(name=checkpoints_topic(topic))
    not_its_own = topic_factory("elsewhere")  # no WRITE for audit-indexer there
    await produce(kafka_broker, topic, 0, 250)
    connection = indexer_connection(kafka_admin, topic, "unused-policy-topic")
    key = ensure_audit_key(AuditKeyFiles.in_directory(tmp_path / "keys"))
    checkpointing = Checkpointing(key, every_records=EVERY)
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        refused = IndexerOptions(
            audit_topic=topic,
            policy_topic=None,
            checkpoint_topic=not_its_own,
            until_caught_up=True,
            start_wait_s=20,
        )
        registry = CollectorRegistry()
        state = await run_indexer(
            connection,
            store,
            checkpointing,
            asyncio.Event(),
            refused,
            metrics=IndexerMetrics(registry),
        )
        assert state.stored == 250
        assert registry.get_sample_value("bus_audit_witness_behind") == 1

        await produce(kafka_broker, topic, 250, 50)
        options = replace(refused, checkpoint_topic=witness_topic)
        state = await run_indexer(connection, store, checkpointing, asyncio.Event(), options)
        assert state.stored == 50
        public = load_audit_public_key(AuditKeyFiles.in_directory(tmp_path / "keys"))
        witness = await read_witness(kafka_broker, witness_topic, public)
        assert witness.checkpoints == store.checkpoints()  # the earlier ones caught up, in order
        assert verify_store(store, public, witness=witness).intact
    finally:
        store.close()


async def test_the_api_reads_the_witness_as_the_verifier_from_its_own_profile(
    trail: Trail, kafka_admin: KafkaAdmin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = default_profile_path(VERIFIER_ROLE)  # the lab's, written by `bus kafka up`
    monkeypatch.setenv("BUS_HOME", str(tmp_path / "home"))  # where no profile is
    with pytest.raises(ConfigError, match="no connection profile for the audit-verifier"):
        witness_reader(trail.witness_topic, trail.pinned)
    verifier = verifier_connection(kafka_admin, trail.witness_topic, own)  # the operator grants
    assert verifier.username == VERIFIER_USER
    read = witness_reader(trail.witness_topic, trail.pinned, own)  # no admin from here on
    witness = await asyncio.to_thread(read)
    assert witness.checkpoints == trail.store.checkpoints()
