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

The store's own checkpoints cannot catch someone who deletes them too and re-signs the rest with
the audit key read from the store's files. So the key is the one pinned outside the store
(bus/audit/audit_key.py), and the store is checked against its witness (bus/audit/witness.py):
every checkpoint the indexer published must match the recomputed chain at its seq and be in the
store; the store's source positions must not be below what the newest checkpoint covers (signed:
lowering them would pass records off as backlog); and no gap between checkpoints, nor the
unsigned tail, may exceed the cadence they were signed under.

The other way round, the store may be ahead of its witness only for as long as publishing takes:
a checkpoint is published right after its commit, or, after a failed send, within the publisher's
retry interval. A store checkpoint missing from the witness past its cadence + that interval +
SIGNING_GRACE, or records after a witnessed checkpoint that old, are UNWITNESSED: whoever holds
the audit key (it is readable beside the store) could have re-signed them.

What `verify` proves ends at the newest witnessed checkpoint; records after it (the unsigned
tail, and the store's own newest checkpoints until they are published) are vouched for only by
`bus audit reconcile`, which compares them with the audit topic.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bus.audit.chain import GENESIS, link
from bus.audit.checkpoint import DEFAULT_CADENCE, Cadence, Checkpoint, signature_valid
from bus.audit.checkpoint_publisher import RETRY_AFTER_S
from bus.audit.columns import columns_of
from bus.audit.store.audit_store import AuditStore
from bus.audit.store.rows import ChainRow
from bus.audit.witness import Witness
from bus.envelope.attributes import parse_time
from bus.errors import BusError
from bus.keys.keystore import AgencyPublicKey

# Past its cadence, an indexer may still be finishing one slow batch before it signs.
SIGNING_GRACE = timedelta(seconds=60)
ZERO = timedelta(0)


class Tampering(StrEnum):
    """What a finding says happened (see above); WITNESS_UNAVAILABLE is no tampering."""

    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    INSERTED = "INSERTED"
    REORDERED = "REORDERED"
    REWRITTEN = "REWRITTEN"  # consistent chain, but not the one a checkpoint signed
    CHECKPOINT_FORGED = "CHECKPOINT_FORGED"
    TRUNCATED = "TRUNCATED"
    KEY_MISMATCH = "KEY_MISMATCH"  # checkpoints signed with another key than the pinned one
    CHECKPOINT_MISSING = "CHECKPOINT_MISSING"  # on the witness topic, not in the store
    POSITIONS_LOWERED = "POSITIONS_LOWERED"  # below what a signed checkpoint covers
    WITNESS_FORGED = "WITNESS_FORGED"  # a record on the witness topic the audit key did not sign
    CHECKPOINT_GAP = "CHECKPOINT_GAP"  # more records between two checkpoints than the cadence
    UNSIGNED_TAIL = "UNSIGNED_TAIL"  # more records, or longer, after the last one than the cadence
    WITNESS_UNAVAILABLE = "WITNESS_UNAVAILABLE"  # not tampering, but no proof of its absence
    UNWITNESSED = "UNWITNESSED"  # signed in the store, not on the witness long after it was due


@dataclass(frozen=True, slots=True)
class Finding:
    """The first fault found: its kind, the first record concerned, and a sentence on it."""

    kind: Tampering
    seq: int  # the first record concerned
    message: str


@dataclass(frozen=True)
class IntegrityReport:
    """What a verification found: the store's size, head and checkpoints, the first finding
    if any, notes that are no finding, and how many witnessed checkpoints were checked."""

    # Counted in the store, whether or not the walk got that far (it stops at a finding).
    records: int
    head_seq: int
    head_hash: str  # recomputed if the walk reached the head, else as stored
    checkpoints: int
    last_checkpoint_seq: int | None
    unsigned_tail: int  # records after the last checkpoint: chained, not yet signed
    finding: Finding | None = None
    notes: list[str] = field(default_factory=list)
    witnessed: int | None = None  # checkpoints on the witness topic checked; None: not checked

    @property
    def intact(self) -> bool:
        """Whether nothing was found."""
        return self.finding is None


def verify_store(
    store: AuditStore,
    public_key: AgencyPublicKey,
    progress: Callable[[int], None] | None = None,
    witness: Witness | None = None,
    now: datetime | None = None,
    witness_again: Callable[[], Witness] | None = None,
) -> IntegrityReport:
    """`public_key`: the pinned one. `witness`: read *before* this call, so that everything on it
    was committed to the store before the store is read (the indexer publishes after commit).
    `witness_again`: reads it once more, *after* the store, before anything is called
    UNWITNESSED (a checkpoint committed while this ran may have been published meanwhile)."""
    checkpoints = store.checkpoints()
    # Only a checkpoint the audit key really signed can vouch for the chain.
    valid = [cp for cp in checkpoints if signature_valid(public_key, cp)]
    witnessed = witness.checkpoints if witness else []
    walk = _Walk(store, _pins(valid, witnessed))
    for row in store.chain():
        if walk.finding is not None:
            break
        walk.step(row)
        if progress and walk.count % 10_000 == 0:
            progress(walk.count)
    signed = sorted(
        {(cp.seq, cp.chain_hash): cp for cp in valid + witnessed}.values(), key=lambda cp: cp.seq
    )
    checks = _Checks(store, walk.seq, signed, now or datetime.now(UTC))
    finding = (
        _key_mismatch(checkpoints, public_key)
        or walk.finding
        or walk.pending
        or _forged(checkpoints, valid)
        or checks.truncated(checkpoints)
        or (_missing(valid, witness) if witness else None)
        or checks.positions_lowered()
        or (_witness_forged(witness) if witness else None)
        or (checks.unwitnessed(valid, witness, witness_again) if witness else None)
        or checks.gap()
        or checks.unsigned_tail()
    )
    last_cp = checkpoints[-1].seq if checkpoints else None
    records, head_seq, head_hash = walk.count, walk.seq, walk.chain.hex()
    if walk.finding is not None or walk.pending is not None:  # the walk stopped short
        records, (head_seq, stored_hash) = store.count(), store.head()
        head_hash = stored_hash.hex()
    return IntegrityReport(
        records=records,
        head_seq=head_seq,
        head_hash=head_hash,
        checkpoints=len(checkpoints),
        last_checkpoint_seq=last_cp,
        unsigned_tail=max(0, head_seq - (last_cp or 0)),
        finding=finding,
        witnessed=len(witness.checkpoints) if witness else None,
    )


def verify_witnessed(
    store: AuditStore,
    public_key: AgencyPublicKey,
    read_witness: Callable[[], Witness],
    progress: Callable[[int], None] | None = None,
) -> IntegrityReport:
    """`verify_store` against the witness, read first. A witness that cannot be read is a
    finding (never a pass): the store alone cannot show its newest records were not deleted."""
    try:
        witness = read_witness()
    except BusError as exc:
        alone = verify_store(store, public_key, progress)
        unavailable = Finding(
            Tampering.WITNESS_UNAVAILABLE,
            0,
            f"the witness topic could not be read ({exc}); the store's own checks "
            f"{'found nothing' if alone.intact else 'failed too'}, but cannot show that its "
            "newest records were not deleted with their checkpoints",
        )
        return replace(alone, finding=alone.finding or unavailable)
    return verify_store(store, public_key, progress, witness, witness_again=read_witness)


def publication_due(cadence: Cadence | None) -> timedelta:
    """How long after it was signed a checkpoint must be on the witness: a checkpoint due at the
    end of its cadence, one retry of a failed send, and the grace for a slow batch."""
    ms = (cadence or DEFAULT_CADENCE).ms
    return timedelta(milliseconds=ms, seconds=RETRY_AFTER_S) + SIGNING_GRACE


@dataclass(frozen=True, slots=True)
class _Pin:
    """A chain hash some signed checkpoint vouches for at its seq."""

    chain_hash: str
    witnessed: bool  # published on the witness topic (else: only in the store)


def _pins(stored: list[Checkpoint], witnessed: list[Checkpoint]) -> dict[int, list[_Pin]]:
    pins: dict[int, list[_Pin]] = {}
    for checkpoints, on_witness in ((witnessed, True), (stored, False)):
        for cp in checkpoints:
            pins.setdefault(cp.seq, []).append(_Pin(cp.chain_hash, on_witness))
    return pins


def _key_mismatch(checkpoints: list[Checkpoint], public_key: AgencyPublicKey) -> Finding | None:
    other = next((cp for cp in checkpoints if cp.key_id != public_key.kid), None)
    if other is None:
        return None
    return Finding(
        Tampering.KEY_MISMATCH,
        other.seq,
        f"checkpoint at record {other.seq} is signed by key {other.key_id}, not by the pinned "
        f"audit key {public_key.kid}: the audit key was swapped",
    )


def _forged(checkpoints: list[Checkpoint], valid: list[Checkpoint]) -> Finding | None:
    signed = {id(cp) for cp in valid}
    forged = next((cp for cp in checkpoints if id(cp) not in signed), None)
    if forged is None:
        return None
    return Finding(
        Tampering.CHECKPOINT_FORGED,
        forged.seq,
        f"checkpoint at record {forged.seq} does not carry a valid audit-key signature",
    )


def _missing(stored: list[Checkpoint], witness: Witness) -> Finding | None:
    kept = {(cp.seq, cp.chain_hash) for cp in stored}
    gone = sorted(
        (cp for cp in witness.checkpoints if (cp.seq, cp.chain_hash) not in kept),
        key=lambda cp: cp.seq,
    )
    if not gone:
        return None
    return Finding(
        Tampering.CHECKPOINT_MISSING,
        gone[0].seq,
        f"{len(gone)} checkpoint(s) on the witness topic {witness.topic} are not in the store, "
        f"the first at record {gone[0].seq} (signed {gone[0].signed_at}): they were deleted",
    )


def _witness_forged(witness: Witness) -> Finding | None:
    if not witness.rejected:
        return None
    first = witness.rejected[0]
    return Finding(
        Tampering.WITNESS_FORGED,
        0,
        f"{len(witness.rejected)} record(s) on the witness topic {witness.topic} are not "
        f"checkpoints signed by the pinned audit key; the first at offset {first.offset}: "
        f"{first.why}",
    )


class _Checks:
    """What the signed checkpoints (the store's and the witness's) say about the store as a
    whole: where it must reach, how far it must have read, how often it must be signed."""

    def __init__(
        self, store: AuditStore, head_seq: int, signed: list[Checkpoint], now: datetime
    ) -> None:
        self._store, self._head_seq, self._signed, self._now = store, head_seq, signed, now

    def truncated(self, stored: list[Checkpoint]) -> Finding | None:
        newest = max([cp.seq for cp in stored] + [cp.seq for cp in self._signed], default=0)
        if newest <= self._head_seq:
            return None
        where = "" if any(cp.seq == newest for cp in stored) else " (on the witness topic)"
        return Finding(
            Tampering.TRUNCATED,
            self._head_seq + 1,
            f"a checkpoint{where} signed record {newest}, but the store ends at record "
            f"{self._head_seq}: records from {self._head_seq + 1} on were deleted",
        )

    def positions_lowered(self) -> Finding | None:
        covering = [cp for cp in self._signed if cp.positions is not None]
        if not covering:
            return None
        newest = covering[-1]
        stored = self._store.positions()
        for topic, partition, offset in newest.positions or ():
            if stored.get((topic, partition), 0) < offset:
                return Finding(
                    Tampering.POSITIONS_LOWERED,
                    newest.seq,
                    f"the store says it has read {topic}[{partition}] up to offset "
                    f"{stored.get((topic, partition), 0)}, but the checkpoint at record "
                    f"{newest.seq} covers it up to {offset}: its position was lowered, so that "
                    "what it lost would pass for records not indexed yet",
                )
        return None

    def unwitnessed(
        self,
        stored: list[Checkpoint],
        witness: Witness,
        witness_again: Callable[[], Witness] | None,
    ) -> Finding | None:
        finding = self._unwitnessed(stored, witness)
        if finding is not None and witness_again is not None:
            finding = self._unwitnessed(stored, witness_again())
        return finding

    def _unwitnessed(self, stored: list[Checkpoint], witness: Witness) -> Finding | None:
        on_witness = {(cp.seq, cp.chain_hash) for cp in witness.checkpoints}
        for cp in stored:
            overdue = self._now - parse_time(cp.signed_at) - publication_due(cp.cadence)
            if cp.positions is None or (cp.seq, cp.chain_hash) in on_witness or overdue <= ZERO:
                continue  # before schema 2 nothing was published
            return Finding(
                Tampering.UNWITNESSED,
                cp.seq,
                f"the store's checkpoint at record {cp.seq} (signed {cp.signed_at}) is not on "
                f"the witness topic {witness.topic}, {overdue.total_seconds():.0f} s after it was "
                "due there: whoever can read the audit key beside the store could have signed it",
            )
        newest = witness.newest
        if newest is None or self._head_seq <= newest.seq:
            return None
        overdue = self._now - parse_time(newest.signed_at) - publication_due(newest.cadence)
        if overdue <= ZERO:
            return None
        return Finding(
            Tampering.UNWITNESSED,
            newest.seq + 1,
            f"records {newest.seq + 1}–{self._head_seq} are after the newest checkpoint on the "
            f"witness topic {witness.topic} (record {newest.seq}, signed {newest.signed_at}), "
            f"whose successor was due there {overdue.total_seconds():.0f} s ago: nothing "
            "outside the store vouches for them",
        )

    def gap(self) -> Finding | None:
        previous = 0
        for cp in self._signed:
            if cp.cadence is not None and cp.seq - previous > cp.cadence.records:
                return Finding(
                    Tampering.CHECKPOINT_GAP,
                    previous + 1,
                    f"records {previous + 1}–{cp.seq} have no checkpoint between them, but one "
                    f"is signed every {cp.cadence.records} records: checkpoints were deleted",
                )
            previous = cp.seq
        return None

    def unsigned_tail(self) -> Finding | None:
        last = self._signed[-1] if self._signed else None
        last_seq = last.seq if last else 0
        cadence = (last.cadence if last else None) or DEFAULT_CADENCE
        tail = self._head_seq - last_seq
        if tail <= 0:
            return None
        if tail > cadence.records:
            return Finding(
                Tampering.UNSIGNED_TAIL,
                last_seq + 1,
                f"{tail} records after the last checkpoint (record {last_seq}) are unsigned, "
                f"but one is signed every {cadence.records} records: checkpoints were deleted",
            )
        if last is None:
            return None
        unsigned_for = self._now - parse_time(last.signed_at)
        if unsigned_for > timedelta(milliseconds=cadence.ms) + SIGNING_GRACE:
            return Finding(
                Tampering.UNSIGNED_TAIL,
                last_seq + 1,
                f"{tail} record(s) after record {last_seq} are unsigned since {last.signed_at} "
                f"({unsigned_for.total_seconds():.0f} s), but a checkpoint is due every "
                f"{cadence.seconds:g} s: the indexer is not running, or checkpoints were deleted",
            )
        return None


class _Walk:
    def __init__(self, store: AuditStore, pins: dict[int, list[_Pin]]) -> None:
        self.store = store
        self.pins = pins
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
                Tampering.MODIFIED,
                row.seq,
                f"record {row.seq}'s query columns differ from what its bytes say",
            )
        else:
            self.seq, self.chain = row.seq, recomputed
            self._check_checkpoint()

    def _broken_link(self, row: ChainRow, intact: bool) -> None:
        owner = self.store.seq_of_hash(row.prev_hash)
        if owner is not None and owner > row.seq:
            self._found(
                Tampering.REORDERED,
                row.seq,
                f"record {row.seq} belongs after record {owner}: records were reordered",
            )
        elif owner is not None and owner < row.seq - 1:
            self._found(
                Tampering.INSERTED,
                owner + 1,
                f"records {owner + 1}–{row.seq - 1} were inserted: record {row.seq} follows "
                f"record {owner}",
            )
        elif intact:
            self._found(
                Tampering.MODIFIED,
                row.seq - 1,
                f"record {row.seq - 1} was modified: record {row.seq} follows a record with "
                "another hash",
            )
        else:
            self._found(
                Tampering.DELETED,
                row.seq,
                f"a record before record {row.seq} was deleted and the rest renumbered",
            )

    def _check_checkpoint(self) -> None:
        pins = self.pins.get(self.seq)
        if pins is None:
            return
        broken = next((pin for pin in pins if pin.chain_hash != self.chain.hex()), None)
        if broken is not None:
            where = " on the witness topic" if broken.witnessed else ""
            self.pending = Finding(
                Tampering.REWRITTEN,
                self.good_checkpoint + 1,
                f"records {self.good_checkpoint + 1}–{self.seq} were rewritten: their chain no "
                f"longer ends in the hash the checkpoint{where} at record {self.seq} signed",
            )
        else:
            self.good_checkpoint = self.seq

    def _found(self, kind: Tampering, seq: int, message: str) -> None:
        self.finding = Finding(kind, seq, message)
