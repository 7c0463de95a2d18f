"""Signed checkpoints: the audit key's signature over (position, chain hash, time, what it covers).

A checkpoint pins the chain: rewriting records before it, even with every later hash recomputed,
no longer matches the signed hash, and only the holder of the audit key can sign a new one.

It also signs the source positions it covers (every committed record on the audit topic below
them is stored at or before its seq) and the cadence it was signed under, so neither lowering the
store's positions nor deleting checkpoints goes unnoticed: both are inside the signature, and
each checkpoint is also published to the witness topic (bus/audit/witness.py).
"""

from dataclasses import dataclass
from typing import Any

import rfc8785
from nacl.exceptions import BadSignatureError

from bus.keys import AgencySigningKey
from bus.keys.keystore import AgencyPublicKey

# (topic, partition, next offset), sorted: where reading had come to when the checkpoint was made.
Positions = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class Cadence:
    """The indexer signs every `records` records and at least every `ms` milliseconds."""

    records: int
    ms: int

    @property
    def seconds(self) -> float:
        """The time bound in seconds."""
        return self.ms / 1000


DEFAULT_CADENCE = Cadence(records=1_000, ms=60_000)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed checkpoint: record `seq`'s chain hash, when and with which key it was signed,
    the signature, and the source positions and cadence it covers."""

    seq: int
    chain_hash: str  # hex
    signed_at: str  # RFC 3339
    key_id: str
    signature: bytes
    # None only for checkpoints signed before store schema 2, which covered neither.
    positions: Positions | None = None
    cadence: Cadence | None = None

    def payload(self) -> bytes:
        """The bytes the signature covers."""
        return signed_payload(
            self.seq, self.chain_hash, self.signed_at, self.key_id, self.positions, self.cadence
        )

    def position(self, topic: str, partition: int) -> int | None:
        """The next offset of source partition (`topic`, `partition`) it covers; None if it
        names none."""
        return next((o for t, p, o in self.positions or () if (t, p) == (topic, partition)), None)


def signed_payload(
    seq: int,
    chain_hash: str,
    signed_at: str,
    key_id: str,
    positions: Positions | None = None,
    cadence: Cadence | None = None,
) -> bytes:
    """What a checkpoint signs: its fields as canonical JSON (RFC 8785); positions and cadence
    only when given, as checkpoints of schema 1 had neither."""
    document: dict[str, Any] = {
        "seq": seq,
        "chain_hash": chain_hash,
        "signed_at": signed_at,
        "key_id": key_id,
    }
    if positions is not None:
        document["positions"] = [list(position) for position in positions]
    if cadence is not None:
        document["cadence"] = {"records": cadence.records, "ms": cadence.ms}
    return rfc8785.dumps(document)


def sign_checkpoint(
    key: AgencySigningKey,
    seq: int,
    chain_hash: bytes,
    signed_at: str,
    positions: Positions,
    cadence: Cadence,
) -> Checkpoint:
    """A checkpoint of record `seq` (chain hash `chain_hash`), signed now by `key`."""
    payload = signed_payload(seq, chain_hash.hex(), signed_at, key.kid, positions, cadence)
    return Checkpoint(
        seq, chain_hash.hex(), signed_at, key.kid, key.sign(payload), positions, cadence
    )


def signature_valid(public: AgencyPublicKey, checkpoint: Checkpoint) -> bool:
    """Whether `checkpoint` names `public`'s key id and its signature verifies with it."""
    if checkpoint.key_id != public.kid:
        return False
    try:
        public.verify_key.verify(checkpoint.payload(), checkpoint.signature)
    except BadSignatureError:
        return False
    return True
