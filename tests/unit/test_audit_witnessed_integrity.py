"""The API's integrity status checks the store against the witness as `bus audit verify` does:
what the witness holds and the store lost is named, and a witness that cannot be read is a
finding, never an "intact" (real SQLite store, real signatures)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bus.audit.api.integrity_watch import IntegrityWatch
from bus.audit.audit_key import AuditKeyFiles, ensure_audit_key, load_audit_public_key
from bus.audit.chain import link
from bus.audit.checkpoint import DEFAULT_CADENCE, sign_checkpoint
from bus.audit.columns import COLUMN_NAMES, columns_of
from bus.audit.store import AuditStore, open_store
from bus.audit.store.audit_store import Checkpointing
from bus.audit.verify import Tampering, publication_due, verify_store
from bus.audit.witness import Witness
from bus.errors import BrokerError
from bus.keys import AgencySigningKey
from bus.keys.keystore import AgencyPublicKey
from tests.support.audit_records import source_records


def test_the_api_names_what_the_witness_holds_and_the_store_lost(tmp_path: Path) -> None:
    files = AuditKeyFiles.in_directory(tmp_path / "keys")
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        now = datetime.now(UTC)
        store.append(source_records(50), now, Checkpointing(ensure_audit_key(files), 10))
        published = Witness("bus.audit.checkpoints", store.checkpoints())
        public = load_audit_public_key(files)
        witnessed = IntegrityWatch(store, public, lambda: now, witness=lambda: published)
        assert witnessed.status().report.intact
        assert witnessed.status().report.witnessed == 5

        store.backend.execute("DELETE FROM decisions WHERE seq > 40")
        store.backend.execute("DELETE FROM checkpoints WHERE seq > 40")
        alone = IntegrityWatch(store, public, lambda: now).status(fresh=True).report
        assert alone.intact  # what the store's own checks cannot see
        report = witnessed.status(fresh=True).report
        assert report.finding is not None
        assert (report.finding.kind, report.finding.seq) == (Tampering.TRUNCATED, 41)

        def unreachable() -> Witness:
            raise BrokerError("cannot read the witness topic bus.audit.checkpoints: broker away")

        blind = IntegrityWatch(store, public, lambda: now, witness=unreachable).status().report
        assert blind.finding is not None
        assert blind.finding.kind is Tampering.WITNESS_UNAVAILABLE
        assert "broker away" in blind.finding.message
    finally:
        store.close()


@dataclass
class Signed:
    """50 records signed every 10 and published, then 7 more signed in the store only."""

    store: AuditStore
    key: AgencySigningKey
    public: AgencyPublicKey
    witness: Witness  # as published: up to record 50
    now: datetime  # when everything was signed

    @property
    def past_the_grace(self) -> datetime:
        return self.now + publication_due(DEFAULT_CADENCE) + timedelta(seconds=1)

    def rewrite(self, seq: int) -> None:
        """Change record `seq` (its columns too) and re-hash it and every later one, as raw SQL
        would."""
        rows = self.store.backend.fetch(
            "SELECT seq, record FROM decisions WHERE seq >= ? ORDER BY seq", (seq,)
        )
        chain = bytes(
            self.store.backend.fetch("SELECT hash FROM decisions WHERE seq = ?", (seq - 1,))[0][0]
        )
        for row_seq, record in rows:
            changed = bytes(record).replace(b'"tax-by"', b'"nobody"') if row_seq == seq else record
            previous, chain = chain, link(chain, row_seq, bytes(changed))
            columns = ", ".join(f"{name} = ?" for name in COLUMN_NAMES)
            self.store.backend.execute(
                f"UPDATE decisions SET record = ?, prev_hash = ?, hash = ?, {columns} WHERE seq = ?",  # noqa: S608
                (bytes(changed), previous, chain, *columns_of(bytes(changed)), row_seq),
            )

    def resign(self, seqs: list[int]) -> None:
        """Sign the store's checkpoints at `seqs` again over the chain as it is, with the key."""
        for old in self.store.checkpoints():
            if old.seq not in seqs:
                continue
            chain = bytes(
                self.store.backend.fetch("SELECT hash FROM decisions WHERE seq = ?", (old.seq,))[0][
                    0
                ]
            )
            cp = sign_checkpoint(
                self.key,
                old.seq,
                chain,
                old.signed_at,
                old.positions or (),
                old.cadence or DEFAULT_CADENCE,
            )
            self.store.backend.execute(
                "UPDATE checkpoints SET chain_hash = ?, signature = ? WHERE seq = ?",
                (cp.chain_hash, cp.signature, cp.seq),
            )


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Signed]:
    files = AuditKeyFiles.in_directory(tmp_path / "keys")
    key = ensure_audit_key(files)
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    now = datetime.now(UTC)
    store.append(source_records(50), now, Checkpointing(key, 10))
    witness = Witness("bus.audit.checkpoints", store.checkpoints())
    store.append(source_records(7, first=50), now, Checkpointing(key, 10, sign_head_now=True))
    try:
        yield Signed(store, key, load_audit_public_key(files), witness, now)
    finally:
        store.close()


def test_a_store_re_signed_under_an_empty_witness_is_unwitnessed_past_the_grace(
    signed: Signed,
) -> None:
    # Whoever reads the key beside the store rewrites from record 5 and re-signs every checkpoint;
    # the witness has nothing (never published, or another topic).
    signed.rewrite(5)
    signed.resign([cp.seq for cp in signed.store.checkpoints()])
    empty = Witness("bus.audit.checkpoints")
    assert verify_store(signed.store, signed.public, witness=empty, now=signed.now).intact
    report = verify_store(signed.store, signed.public, witness=empty, now=signed.past_the_grace)
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.UNWITNESSED, 10)
    assert "is not on the witness topic bus.audit.checkpoints" in report.finding.message


def test_a_record_rewritten_after_a_lagging_witness_is_unwitnessed_past_the_grace(
    signed: Signed,
) -> None:
    lagging = Witness(signed.witness.topic, signed.witness.checkpoints[:4])  # up to record 40
    signed.rewrite(45)
    signed.resign([50, 57])
    assert verify_store(signed.store, signed.public, witness=lagging, now=signed.now).intact
    report = verify_store(signed.store, signed.public, witness=lagging, now=signed.past_the_grace)
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.UNWITNESSED, 50)
    # Read again after the store (as verify does), the witness has it all: REWRITTEN instead.
    full = Witness(signed.witness.topic, signed.witness.checkpoints)
    report = verify_store(signed.store, signed.public, witness=full, now=signed.past_the_grace)
    assert report.finding is not None
    assert report.finding.kind is Tampering.REWRITTEN


def test_a_checkpoint_published_while_verify_ran_is_not_unwitnessed(signed: Signed) -> None:
    before = signed.witness  # read before the store: record 57's checkpoint not there yet
    after = Witness(before.topic, signed.store.checkpoints())  # published meanwhile
    report = verify_store(
        signed.store,
        signed.public,
        witness=before,
        now=signed.past_the_grace,
        witness_again=lambda: after,
    )
    assert report.intact, report.finding
    alone = verify_store(signed.store, signed.public, witness=before, now=signed.past_the_grace)
    assert alone.finding is not None
    assert alone.finding.kind is Tampering.UNWITNESSED


def test_a_report_with_a_finding_counts_the_whole_store(signed: Signed) -> None:
    signed.store.backend.execute("UPDATE decisions SET record = ? WHERE seq = 5", (b"{}",))
    report = verify_store(signed.store, signed.public, witness=signed.witness, now=signed.now)
    assert report.finding is not None
    assert (report.finding.kind, report.finding.seq) == (Tampering.MODIFIED, 5)
    # Not where the walk stopped (4 records, head 4): what the store holds.
    assert (report.records, report.head_seq, report.unsigned_tail) == (57, 57, 0)
