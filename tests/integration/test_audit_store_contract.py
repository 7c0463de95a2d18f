"""One contract for both audit stores, SQLite and PostgreSQL: what goes in comes out, filters
mean the same, positions make the indexer exactly-once, and tampering with one record out of
10,000 is found at the right place."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bus.audit.audit_key import AuditKeyFiles, ensure_audit_key, load_audit_public_key
from bus.audit.chain import link
from bus.audit.checkpoint import signed_payload
from bus.audit.columns import COLUMN_NAMES, UNREADABLE, columns_of, epoch_micros
from bus.audit.store import AuditStore, DecisionFilter, SourceRecord, open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.store.erasures import StoredErasure
from bus.audit.verify import IntegrityReport, Tampering, verify_store
from bus.keys import AgencySigningKey
from bus.keys.keystore import AgencyPublicKey
from bus.record.erasure_record import ErasureRecord
from tests.support.audit_records import (
    PSEUDONYMS,
    START,
    audit_document,
    person,
    source_records,
)
from tests.support.audit_stores import RawSql, postgres_store_url, sqlite_store_url

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TAMPER_SIZE = 10_000


@dataclass
class Subject:
    store: AuditStore
    url: str
    raw: RawSql
    key: AgencySigningKey
    public: AgencyPublicKey

    def verify(self) -> IntegrityReport:
        return verify_store(self.store, self.public)


@pytest.fixture(params=["sqlite", "postgresql"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    files = AuditKeyFiles(tmp_path / "keys" / "audit.key.pem", tmp_path / "keys" / "audit.pub.pem")
    key = ensure_audit_key(files)
    if request.param == "sqlite":
        location = sqlite_store_url(tmp_path)
    else:
        location = postgres_store_url(request.getfixturevalue("postgres_url"))
    with location as (url, raw):
        store = open_store(url)
        yield Subject(store, url, raw, key, load_audit_public_key(files))
        store.close()


def fill(subject: Subject, count: int, every: int = 1_000) -> None:
    checkpointing = Checkpointing(subject.key, every_records=every, every_seconds=3600)
    for first in range(0, count, 2_500):
        records = source_records(min(2_500, count - first), first=first)
        subject.store.append(records, NOW, checkpointing)


# --- what goes in comes out ---


def test_records_come_back_with_their_bytes_and_columns(subject: Subject) -> None:
    records = source_records(50)
    subject.store.append(records, NOW)
    found = subject.store.find(DecisionFilter(), limit=100)
    assert [d.seq for d in found] == list(range(50, 0, -1))  # newest first
    for decision, record in zip(reversed(found), records, strict=True):
        assert decision.record == record.value
        assert decision.columns == columns_of(record.value)
        assert (decision.source_topic, decision.source_offset) == (record.topic, record.offset)


def test_each_filter_selects_exactly_the_matching_decisions(subject: Subject) -> None:
    documents = [audit_document(i, people=10) for i in range(300)]
    subject.store.append(source_records(300, people=10), NOW)

    def seqs(where: DecisionFilter) -> set[int]:
        return {d.seq for d in subject.store.find(where, limit=1_000)}

    def expected(predicate: object) -> set[int]:
        return {i + 1 for i, d in enumerate(documents) if predicate(d)}  # type: ignore[operator]

    pseudonym = PSEUDONYMS.pseudonym("audit", person(3))
    since, until = START + timedelta(seconds=100), START + timedelta(seconds=150)
    cases = [
        (DecisionFilter(consumer="kba-de"), lambda d: d["consumer"] == "kba-de"),
        (DecisionFilter(producer="muni-09362000"), lambda d: d["producer"] == "muni-09362000"),
        (DecisionFilter(event_type="PersonDied"), lambda d: d["event_type"] == "PersonDied"),
        (DecisionFilter(purpose="purpose-tax-by"), lambda d: d["purpose"] == "purpose-tax-by"),
        (DecisionFilter(outcome="DENY"), lambda d: d["outcome"] == "DENY"),
        (
            DecisionFilter(reason="DISCLOSURE_BLOCKED"),
            lambda d: "DISCLOSURE_BLOCKED" in d["reasons"],
        ),
        (
            DecisionFilter(subject_pseudonym=pseudonym),
            lambda d: d["subject_pseudonym"] == pseudonym,
        ),
        (
            DecisionFilter(since_us=epoch_micros(since), until_us=epoch_micros(until)),
            lambda d: 100 <= d["input"]["offset"] < 150,
        ),
        (DecisionFilter(event_id=documents[7]["event_id"]), lambda d: d is documents[7]),
        (
            DecisionFilter(dpo_of="tax-by"),
            lambda d: (
                (d["consumer"] == "tax-by" and d["outcome"] in ("PERMIT", "SUBSCRIPTION_REFUSED"))
                or (d["producer"] == "tax-by" and d["outcome"] in ("PERMIT", "QUARANTINED"))
            ),
        ),
        (
            DecisionFilter(consumer="tax-by", outcome="PERMIT", event_type="AddressChanged"),
            lambda d: (
                (d["consumer"], d["outcome"], d["event_type"])
                == ("tax-by", "PERMIT", "AddressChanged")
            ),
        ),
    ]
    for where, predicate in cases:
        wanted = expected(predicate)
        assert wanted, f"the data must exercise {where}"
        assert seqs(where) == wanted, where


def test_a_quarantined_record_is_found_by_the_id_it_claimed(subject: Subject) -> None:
    forged = audit_document(
        1,
        event_id=None,
        outcome="QUARANTINED",
        consumer=None,
        reasons=["UNKNOWN_KEY"],
        claimed_event_id="claimed-1",
    )
    subject.store.append([SourceRecord("bus.audit", 0, 0, json.dumps(forged).encode())], NOW)
    [found] = subject.store.find(DecisionFilter(event_id="claimed-1"))
    assert found.columns.outcome == "QUARANTINED"


def test_pages_walk_every_decision_once(subject: Subject) -> None:
    subject.store.append(source_records(250), NOW)
    seen: list[int] = []
    before = None
    while page := subject.store.find(DecisionFilter(), limit=40, before_seq=before):
        seen += [d.seq for d in page]
        before = page[-1].seq
    assert seen == list(range(250, 0, -1))


def test_stats_count_by_bucket_consumer_outcome_and_reasons(subject: Subject) -> None:
    subject.store.append(source_records(200), NOW)
    rows = subject.store.stats(DecisionFilter(), bucket_chars=10)
    assert sum(r.count for r in rows) == 200
    kba_denied = sum(r.count for r in rows if r.consumer == "kba-de" and r.outcome == "DENY")
    expected = sum(
        1
        for i in range(200)
        if audit_document(i)["consumer"] == "kba-de" and audit_document(i)["outcome"] == "DENY"
    )
    assert kba_denied == expected > 0


def test_an_unreadable_record_is_kept_and_said(subject: Subject) -> None:
    result = subject.store.append([SourceRecord("bus.audit", 0, 0, b"not json {")], NOW)
    assert [r.offset for r in result.unreadable] == [0]
    [kept] = subject.store.find(DecisionFilter(outcome=UNREADABLE))
    assert kept.record == b"not json {"
    assert subject.verify().intact


def test_positions_resume_where_the_last_append_committed(subject: Subject) -> None:
    subject.store.append(source_records(30), NOW)
    subject.store.append([], NOW, positions={("bus.policy", 0): 7})
    reopened = open_store(subject.url)
    try:
        assert reopened.positions() == {("bus.audit", 0): 30, ("bus.policy", 0): 7}
        assert reopened.count() == 30
    finally:
        reopened.close()


def test_a_failed_append_leaves_neither_records_nor_positions(subject: Subject) -> None:
    subject.store.append(source_records(10), NOW)
    # A checkpoint row already at the position the next append would sign makes it fail late,
    # after the records were inserted: all of it must roll back.
    subject.raw(
        "INSERT INTO checkpoints (seq, chain_hash, signed_at, key_id, signature) "
        "VALUES (20, 'x', '2026-01-01T00:00:00Z', 'x', ?)",
        (b"x",),
    )
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        subject.store.append(
            source_records(10, first=10), NOW, Checkpointing(subject.key, every_records=20)
        )
    assert subject.store.count() == 10
    assert subject.store.positions() == {("bus.audit", 0): 10}


def test_policy_snapshots_are_kept_by_hash(subject: Subject) -> None:
    subject.store.append([], NOW, snapshots=[("sha256:aa", b"{}"), ("sha256:aa", b"{}")])
    assert subject.store.snapshot_document("sha256:aa") == b"{}"
    assert subject.store.snapshot_document("sha256:bb") is None


def test_erasure_records_are_kept_once_per_agency_and_found_by_event(subject: Subject) -> None:
    def erasure(agency: str, event_id: str, erased_at: str) -> StoredErasure:
        record = ErasureRecord(
            "muni-1",
            event_id,
            "tax",
            "population.AddressChanged",
            "2027-01-01T00:00:00.000000Z",
            erased_at,
        )
        return StoredErasure(agency, record)

    first = erasure("tax-by", "e-1", "2027-01-02T00:00:00.000000Z")
    again = erasure("tax-by", "e-1", "2027-01-05T00:00:00.000000Z")  # the SDK sent it twice
    other = erasure("kba-de", "e-1", "2027-01-03T00:00:00.000000Z")
    subject.store.append_erasures([first, again], {("bus.erasures.tax-by", 0): 2})
    subject.store.append_erasures(
        [other, erasure("kba-de", "e-2", "2027-01-03T00:00:00Z")], {("bus.erasures.kba-de", 0): 2}
    )
    subject.store.append_erasures([], {("bus.erasures.tax-by", 0): 3})
    found = sorted(subject.store.erasures_of(["e-1", "e-9"]), key=lambda e: e.consumer)
    assert found == [other, first]  # the first of a repeated one counts
    assert subject.store.erasure_positions() == {
        ("bus.erasures.tax-by", 0): 3,
        ("bus.erasures.kba-de", 0): 2,
    }
    # Apart from the audit topic's positions: checkpoints sign those, erasures are not chained.
    assert subject.store.positions() == {}


def test_checkpoints_every_n_records_and_after_t_seconds(subject: Subject) -> None:
    checkpointing = Checkpointing(subject.key, every_records=100, every_seconds=60)
    subject.store.append(source_records(250), NOW, checkpointing)
    # First append: the count-based ones, and the newest record since none was signed before.
    assert [c.seq for c in subject.store.checkpoints()] == [100, 200, 250]
    subject.store.append(source_records(10, first=250), NOW + timedelta(seconds=30), checkpointing)
    assert subject.store.checkpoints()[-1].seq == 250  # neither 100 records nor 60 s yet
    subject.store.append([], NOW + timedelta(seconds=61), checkpointing)
    assert subject.store.checkpoints()[-1].seq == 260
    assert subject.verify().intact


# --- tampering, one record out of 10,000 ---


def test_an_untouched_store_verifies(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    report = subject.verify()
    assert report.intact, report.finding
    # One per 1,000 records, and one at the end of the first append (nothing was signed before).
    assert (report.records, report.head_seq, report.checkpoints) == (TAMPER_SIZE, TAMPER_SIZE, 11)


def test_a_modified_record_is_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    changed = json.dumps(audit_document(4_999, consumer="someone-else")).encode()
    subject.raw("UPDATE decisions SET record = ? WHERE seq = 5000", (changed,))
    assert_finding(subject, Tampering.MODIFIED, 5000)


def test_a_modified_query_column_is_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("UPDATE decisions SET consumer = 'nobody' WHERE seq = 5000", ())
    assert_finding(subject, Tampering.MODIFIED, 5000)


def test_a_modified_and_rehashed_record_is_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    prev = subject.raw("SELECT prev_hash FROM decisions WHERE seq = 5000", ())[0][0]
    changed = json.dumps(audit_document(4_999, released_fields=["everything"])).encode()
    columns = columns_of(changed).as_row()
    assignments = ", ".join(f"{name} = ?" for name in COLUMN_NAMES)
    subject.raw(
        f"UPDATE decisions SET record = ?, hash = ?, {assignments} WHERE seq = 5000",  # noqa: S608
        (changed, link(bytes(prev), 5000, changed), *columns),
    )
    assert_finding(subject, Tampering.MODIFIED, 5000)


def test_a_deleted_record_is_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("DELETE FROM decisions WHERE seq = 5000", ())
    assert_finding(subject, Tampering.DELETED, 5000)


def test_a_deleted_record_is_named_even_when_the_rest_is_renumbered(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("DELETE FROM decisions WHERE seq = 5000", ())
    renumber(subject, from_seq=5001, by=-1)
    assert_finding(subject, Tampering.DELETED, 5000)


def test_reordered_records_are_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("UPDATE decisions SET seq = -1 WHERE seq = 5000", ())
    subject.raw("UPDATE decisions SET seq = 5000 WHERE seq = 5001", ())
    subject.raw("UPDATE decisions SET seq = 5001 WHERE seq = -1", ())
    assert_finding(subject, Tampering.REORDERED, 5000)


def test_an_inserted_record_is_named_even_when_its_links_are_forged(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    renumber(subject, from_seq=5000, by=1)
    prev = bytes(subject.raw("SELECT hash FROM decisions WHERE seq = 4999", ())[0][0])
    forged = json.dumps(audit_document(77_777)).encode()
    names = ", ".join(COLUMN_NAMES)
    marks = ", ".join("?" * (7 + len(COLUMN_NAMES)))
    subject.raw(
        f"INSERT INTO decisions (seq, source_topic, source_partition, source_offset, record, "  # noqa: S608
        f"prev_hash, hash, {names}) VALUES ({marks})",
        (
            5000,
            "bus.audit",
            0,
            77_777,
            forged,
            prev,
            link(prev, 5000, forged),
            *columns_of(forged).as_row(),
        ),
    )
    assert_finding(subject, Tampering.INSERTED, 5000)


def test_a_rewritten_chain_is_caught_by_the_next_signed_checkpoint(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    rows = subject.raw("SELECT seq, record FROM decisions WHERE seq >= 4500 ORDER BY seq", ())
    chain = bytes(subject.raw("SELECT hash FROM decisions WHERE seq = 4499", ())[0][0])
    updates = []
    for seq, record in rows:
        record = bytes(record)
        if seq == 4500:
            record = json.dumps(audit_document(4_499, consumer="hidden")).encode()
        chain, previous = link(chain, seq, record), chain
        updates.append((record, previous, chain, columns_of(record).consumer, seq))
    subject.raw.many(
        "UPDATE decisions SET record = ?, prev_hash = ?, hash = ?, consumer = ? WHERE seq = ?",
        updates,
    )
    finding = assert_finding(subject, Tampering.REWRITTEN, 4001)
    assert "4001–5000" in finding


def test_a_forged_checkpoint_is_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("UPDATE checkpoints SET chain_hash = ? WHERE seq = 3000", ("00" * 32,))
    assert_finding(subject, Tampering.CHECKPOINT_FORGED, 3000)


def test_deleting_the_newest_records_is_caught_by_the_last_checkpoint(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("DELETE FROM decisions WHERE seq > 9500", ())
    assert_finding(subject, Tampering.TRUNCATED, 9501)


def test_a_deleted_checkpoint_leaves_a_gap_that_is_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("DELETE FROM checkpoints WHERE seq = 5000", ())
    assert_finding(subject, Tampering.CHECKPOINT_GAP, 4001)


def test_every_checkpoint_deleted_leaves_an_unsigned_tail_that_is_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("DELETE FROM checkpoints", ())
    assert_finding(subject, Tampering.UNSIGNED_TAIL, 1)


def test_a_tail_unsigned_for_longer_than_the_cadence_is_named(subject: Subject) -> None:
    checkpointing = Checkpointing(subject.key, every_records=1_000, every_seconds=60)
    subject.store.append(source_records(500), NOW, checkpointing)  # the first: signed at once
    later = NOW + timedelta(seconds=10)
    subject.store.append(source_records(10, first=500), later, checkpointing)  # not due yet
    assert verify_store(subject.store, subject.public, now=NOW + timedelta(seconds=100)).intact
    report = verify_store(subject.store, subject.public, now=NOW + timedelta(seconds=121))
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.UNSIGNED_TAIL, 501)
    assert "the indexer is not running, or checkpoints were deleted" in report.finding.message


def test_lowered_source_positions_are_named(subject: Subject) -> None:
    fill(subject, TAMPER_SIZE)
    subject.raw("UPDATE source_positions SET next_offset = 9000", ())
    message = assert_finding(subject, Tampering.POSITIONS_LOWERED, TAMPER_SIZE)
    assert "bus.audit[0] up to offset 9000" in message


def test_a_schema_1_store_is_migrated_and_still_verifies(subject: Subject) -> None:
    """Schema 1 signed (seq, chain hash, time, key id) only; the chain itself is unchanged."""
    subject.store.append(source_records(300), NOW)
    head = bytes(subject.raw("SELECT hash FROM decisions WHERE seq = 300", ())[0][0]).hex()
    at = "2026-11-23T12:00:00Z"
    signature = subject.key.sign(signed_payload(300, head, at, subject.key.kid))
    subject.raw("DROP TABLE checkpoints", ())
    subject.raw(
        "CREATE TABLE checkpoints (seq BIGINT PRIMARY KEY, chain_hash TEXT NOT NULL, "
        "signed_at TEXT NOT NULL, key_id TEXT NOT NULL, signature "
        f"{'BYTEA' if subject.url.startswith('postgresql') else 'BLOB'} NOT NULL)",
        (),
    )
    subject.raw(
        "INSERT INTO checkpoints VALUES (300, ?, ?, ?, ?)", (head, at, subject.key.kid, signature)
    )
    subject.raw("UPDATE store_meta SET value = '1' WHERE key = 'schema'", ())
    migrated = open_store(subject.url)
    try:
        assert subject.raw("SELECT value FROM store_meta WHERE key = 'schema'", ()) == [("2",)]
        [old] = migrated.checkpoints()
        assert (old.seq, old.positions, old.cadence) == (300, None, None)
        assert verify_store(migrated, subject.public).intact
        checkpointing = Checkpointing(subject.key, every_records=100)
        migrated.append(source_records(100, first=300), NOW, checkpointing)
        assert migrated.checkpoints()[-1].positions == (("bus.audit", 0, 400),)
        assert verify_store(migrated, subject.public).intact
    finally:
        migrated.close()


def renumber(subject: Subject, from_seq: int, by: int) -> None:
    # Through negative numbers: a primary key is checked row by row while an UPDATE runs.
    subject.raw("UPDATE decisions SET seq = -seq WHERE seq >= ?", (from_seq,))
    subject.raw("UPDATE decisions SET seq = -seq + ? WHERE seq < 0", (by,))


def assert_finding(subject: Subject, kind: Tampering, seq: int) -> str:
    report = subject.verify()
    assert report.finding is not None, "tampering went unnoticed"
    assert (report.finding.kind, report.finding.seq) == (kind, seq), report.finding
    return report.finding.message
