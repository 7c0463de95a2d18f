"""`bus audit reconcile` on the real broker: the audit topic witnesses what the store must hold.
It names the newest records deleted along with their checkpoints (which the store's own checks
cannot see), a changed record and an extra one; records not indexed yet are counted, not blamed.
Its boundary taken from the witness topic: tests/integration/test_audit_witness.py."""

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.audit.audit_key import (
    AuditKeyFiles,
    ensure_audit_key,
    load_audit_public_key,
    pin_audit_key,
)
from bus.audit.indexer import IndexerOptions, run_indexer
from bus.audit.indexer_access import grant_indexer
from bus.audit.reconcile import Discrepancy, Mismatch, reconcile
from bus.audit.store import open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.verify import verify_store
from bus.cli.main import app
from bus.control.topology import ensure_audit_topic
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.kafka.topics import POLICY_TOPIC, checkpoints_topic
from tests.support.audit_stores import RawSql
from tests.support.audit_topic import produce, produce_aborted
from tests.support.kafka import unique_name

INDEXED, SIGNED_UP_TO, BACKLOG = 900, 800, 30


async def test_reconcile_names_what_the_store_lost_changed_or_gained(
    kafka_broker: KafkaConnection,
    topic_factory: Callable[..., str],
    store_location: tuple[str, RawSql],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    url, raw = store_location
    topic = topic_factory("audit", partitions=3)
    witness_topic = topic_factory(name=checkpoints_topic(topic))
    await produce(kafka_broker, topic, 0, INDEXED)
    await produce_aborted(kafka_broker, topic, 20)
    # The CLI below reads as audit-indexer, from its profile: the operator grants it these topics.
    grant_indexer(KafkaAdmin(kafka_broker), topic, POLICY_TOPIC, witness_topic)
    files = AuditKeyFiles.in_directory(tmp_path / "keys")
    pinned = tmp_path_factory.mktemp("trust") / "audit.pub.pem"  # outside the store's folder
    checkpointing = Checkpointing(ensure_audit_key(files), every_records=100)
    pin_audit_key(checkpointing.key, pinned, files)
    options = IndexerOptions(
        audit_topic=topic, policy_topic=None, checkpoint_topic=witness_topic, until_caught_up=True
    )
    store = open_store(url)
    try:
        await run_indexer(kafka_broker, store, checkpointing, asyncio.Event(), options)
        await produce(kafka_broker, topic, INDEXED, BACKLOG)  # on the topic, not indexed yet

        clean = await reconcile(kafka_broker, store, topic)
        assert (clean.consistent, clean.compared, clean.not_indexed) == (True, INDEXED, BACKLOG)

        position = {
            seq: (p, o)
            for seq, p, o in raw(
                "SELECT seq, source_partition, source_offset FROM decisions WHERE seq IN (?, ?, ?)",
                (5, 10, SIGNED_UP_TO + 1),
            )
        }
        # Delete the newest records together with the checkpoints over them: still a consistent
        # chain ending in a valid checkpoint, which the store's own checks accept.
        raw("DELETE FROM decisions WHERE seq > ?", (SIGNED_UP_TO,))
        raw("DELETE FROM checkpoints WHERE seq > ?", (SIGNED_UP_TO,))
        assert verify_store(store, load_audit_public_key(files)).intact
        raw("UPDATE decisions SET record = ? WHERE seq = 5", (b'{"outcome": "PERMIT"}',))
        raw(
            "INSERT INTO decisions SELECT 5000, source_topic, source_partition, source_offset, "
            "record, prev_hash, hash, event_id, claimed_event_id, event_type, producer, consumer, "
            "purpose, legal_basis, outcome, reasons, released_fields, grant_id, snapshot_hash, "
            "decided_at, decided_at_us, subject_pseudonym FROM decisions WHERE seq = 10"
        )

        found = await reconcile(kafka_broker, store, topic)
        assert dict(found.counts) == {
            Mismatch.MISSING: INDEXED - SIGNED_UP_TO,
            Mismatch.CHANGED: 1,
            Mismatch.EXTRA: 1,
        }
        assert Discrepancy(Mismatch.CHANGED, *position[5], 5) in found.shown
        assert Discrepancy(Mismatch.EXTRA, *position[10], 5000) in found.shown
        assert Discrepancy(Mismatch.MISSING, *position[SIGNED_UP_TO + 1], None) in found.shown
    finally:
        store.close()

    # The CLI (asyncio.run inside): exit 1, the same findings for scripts.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [
            "audit",
            "reconcile",
            "--store",
            url,
            "--topic",
            topic,
            "--pinned-key",
            str(pinned),
            "--json",
        ],
    )
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    assert document["counts"] == {"CHANGED": 1, "EXTRA": 1, "MISSING": INDEXED - SIGNED_UP_TO}
    assert document["not_indexed"] == BACKLOG
    assert document["witnessed_seq"] == INDEXED  # the boundary came from the witness


def test_the_audit_topic_is_made_to_keep_every_record(kafka_admin: KafkaAdmin) -> None:
    topic = unique_name("audit-retention")
    assert ensure_audit_topic(kafka_admin, topic, partitions=1) == [topic]
    try:
        config = kafka_admin.topic_config(topic)
        assert (config["retention.ms"], config["retention.bytes"]) == ("-1", "-1")
    finally:
        kafka_admin.delete_topics([topic])
