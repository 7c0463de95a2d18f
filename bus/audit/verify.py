"""Recompute the chain and the checkpoints; name the first record that was tampered with.

Walking the records in seq order, each must (1) follow the one before (its stored previous hash is
the recomputed hash of its predecessor), (2) hash to its stored hash, (3) carry the columns its
bytes give. At the first record that fails, the stored links tell what happened:

- seq numbers jump                                   → records were deleted
- its previous hash is the hash of a later record    → records were reordered
- its previous hash is the hash of an earlier record → the records in between were inserted
- its previous hash is nobody's, and it is intact    → its predecessor was modified (and re-hashed)
- its previous hash is nobody's, and it is broken    → a record before it was deleted (renumbered)
- it follows correctly but its hash or columns differ → it was modified

An attacker who rewrites the whole chain from some record on is caught by the first signed
checkpoint after it: the span between the last good checkpoint and that one was rewritten.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from bus.audit.chain import GENESIS, link
from bus.audit.checkpoint import Checkpoint, signature_valid
from bus.audit.columns import columns_of
from bus.audit.store.audit_store import AuditStore, ChainRow
from bus.keys.keystore import AgencyPublicKey


class Tampering(StrEnum):
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    INSERTED = "INSERTED"
    REORDERED = "REORDERED"
    REWRITTEN = "REWRITTEN"  # consistent chain, but not the one a checkpoint signed
    CHECKPOINT_FORGED = "CHECKPOINT_FORGED"
    TRUNCATED = "TRUNCATED"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Tampering
    seq: int  # the first record concerned
    message: str


@dataclass(frozen=True)
class IntegrityReport:
    records: int
    head_seq: int
    head_hash: str
    checkpoints: int
    last_checkpoint_seq: int | None
    unsigned_tail: int  # records after the last checkpoint: chained, not yet signed
    finding: Finding | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.finding is None


def verify_store(
    store: AuditStore,
    public_key: AgencyPublicKey,
    progress: Callable[[int], None] | None = None,
) -> IntegrityReport:
    checkpoints = store.checkpoints()
    # Only a checkpoint the audit key really signed can vouch for the chain.
    valid = {cp.seq: cp for cp in checkpoints if signature_valid(public_key, cp)}
    forged = next((cp for cp in checkpoints if valid.get(cp.seq) is not cp), None)
    by_seq = valid
    walk = _Walk(store, by_seq)
    for row in store.chain():
        if walk.finding is not None:
            break
        walk.step(row)
        if progress and walk.count % 10_000 == 0:
            progress(walk.count)
    finding = walk.finding or walk.pending
    if finding is None and forged is not None:
        finding = Finding(
            Tampering.CHECKPOINT_FORGED, forged.seq,
            f"checkpoint at record {forged.seq} does not carry a valid audit-key signature",
        )  # fmt: skip
    if finding is None and checkpoints and checkpoints[-1].seq > walk.seq:
        finding = Finding(
            Tampering.TRUNCATED, walk.seq + 1,
            f"a checkpoint signed record {checkpoints[-1].seq}, but the store ends at record "
            f"{walk.seq}: records from {walk.seq + 1} on were deleted",
        )  # fmt: skip
    last_cp = checkpoints[-1].seq if checkpoints else None
    return IntegrityReport(
        records=walk.count, head_seq=walk.seq, head_hash=walk.chain.hex(),
        checkpoints=len(checkpoints), last_checkpoint_seq=last_cp,
        unsigned_tail=walk.seq - (last_cp or 0) if walk.seq > (last_cp or 0) else 0,
        finding=finding,
    )  # fmt: skip


class _Walk:
    def __init__(self, store: AuditStore, checkpoints: dict[int, Checkpoint]) -> None:
        self.store = store
        self.checkpoints = checkpoints
        self.seq = 0  # last good record
        self.chain = GENESIS  # its recomputed hash
        self.good_checkpoint = 0
        self.count = 0
        self.finding: Finding | None = None
        # A checkpoint that does not match waits one record: if that one's link is broken, the
        # record at the checkpoint was changed, which names the place more exactly.
        self.pending: Finding | None = None

    def step(self, row: ChainRow) -> None:
        pending, self.pending = self.pending, None
        self._examine(row)
        if pending is not None and self.finding is None:
            self.finding = pending

    def _examine(self, row: ChainRow) -> None:
        self.count += 1
        expected = self.seq + 1
        recomputed = link(row.prev_hash, row.seq, row.record)
        intact = recomputed == row.hash
        if row.seq != expected:
            self._found(
                Tampering.DELETED, expected, f"records {expected}–{row.seq - 1} are missing"
            )
        elif row.prev_hash != self.chain:
            self._broken_link(row, intact)
        elif not intact:
            self._found(
                Tampering.MODIFIED, row.seq, f"record {row.seq} does not hash to its stored hash"
            )
        elif columns_of(row.record).as_row() != row.stored_columns:
            self._found(
                Tampering.MODIFIED, row.seq,
                f"record {row.seq}'s query columns differ from what its bytes say",
            )  # fmt: skip
        else:
            self.seq, self.chain = row.seq, recomputed
            self._check_checkpoint()

    def _broken_link(self, row: ChainRow, intact: bool) -> None:
        owner = self.store.seq_of_hash(row.prev_hash)
        if owner is not None and owner > row.seq:
            self._found(
                Tampering.REORDERED, row.seq,
                f"record {row.seq} belongs after record {owner}: records were reordered",
            )  # fmt: skip
        elif owner is not None and owner < row.seq - 1:
            self._found(
                Tampering.INSERTED, owner + 1,
                f"records {owner + 1}–{row.seq - 1} were inserted: record {row.seq} follows "
                f"record {owner}",
            )  # fmt: skip
        elif intact:
            self._found(
                Tampering.MODIFIED, row.seq - 1,
                f"record {row.seq - 1} was modified: record {row.seq} follows a record with "
                "another hash",
            )  # fmt: skip
        else:
            self._found(
                Tampering.DELETED, row.seq,
                f"a record before record {row.seq} was deleted and the rest renumbered",
            )  # fmt: skip

    def _check_checkpoint(self) -> None:
        checkpoint = self.checkpoints.get(self.seq)
        if checkpoint is None:
            return
        if checkpoint.chain_hash != self.chain.hex():
            self.pending = Finding(
                Tampering.REWRITTEN, self.good_checkpoint + 1,
                f"records {self.good_checkpoint + 1}–{self.seq} were rewritten: their chain no "
                f"longer ends in the hash the checkpoint at record {self.seq} signed",
            )  # fmt: skip
        else:
            self.good_checkpoint = self.seq

    def _found(self, kind: Tampering, seq: int, message: str) -> None:
        self.finding = Finding(kind, seq, message)
