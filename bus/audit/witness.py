"""The witness topic: every checkpoint the indexer signs, kept by the broker, not by the store.

Whoever can edit the store's database (and read its files, the audit key included) can delete
records and checkpoints and re-sign what is left; they cannot take back what the indexer already
published here. The topic is append-only: one partition (one order), unlimited retention,
`cleanup.policy=delete` (never compacted), WRITE for the indexer's principal alone. `bus audit
verify` checks the store against it; `bus audit reconcile` takes its boundary from it.
"""

import asyncio
import time
from dataclasses import dataclass, field

import msgspec
from aiokafka.errors import KafkaError

from bus.audit.checkpoint import Cadence, Checkpoint, signature_valid
from bus.errors import BrokerError
from bus.kafka.connection import KafkaConnection
from bus.kafka.reading import read_all
from bus.keys.keystore import AgencyPublicKey


class _Cadence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    records: int
    ms: int


class _Published(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One checkpoint as published: everything it signs, and the signature (base64)."""

    seq: int
    chain_hash: str
    signed_at: str
    key_id: str
    positions: list[tuple[str, int, int]]
    cadence: _Cadence
    signature: bytes


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Published).decode


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    """The record value the indexer publishes for `checkpoint` (JSON); ValueError for one
    signed before schema 2, which covers no positions."""
    if checkpoint.positions is None or checkpoint.cadence is None:
        raise ValueError(f"checkpoint {checkpoint.seq} predates schema 2: nothing to publish")
    return _encode(
        _Published(
            checkpoint.seq,
            checkpoint.chain_hash,
            checkpoint.signed_at,
            checkpoint.key_id,
            list(checkpoint.positions),
            _Cadence(checkpoint.cadence.records, checkpoint.cadence.ms),
            checkpoint.signature,
        )
    )


def decode_checkpoint(value: bytes) -> Checkpoint:
    """Raises ValueError if `value` is not a published checkpoint."""
    try:
        p = _decode(value)
    except msgspec.MsgspecError as exc:
        raise ValueError(str(exc)) from exc
    return Checkpoint(
        p.seq,
        p.chain_hash,
        p.signed_at,
        p.key_id,
        p.signature,
        tuple(p.positions),
        Cadence(p.cadence.records, p.cadence.ms),
    )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record on the witness topic that is no checkpoint signed by the key, and why."""

    offset: int
    why: str


@dataclass
class Witness:
    """The witness topic as read: the checkpoints the audit key signed, and what was rejected."""

    topic: str
    checkpoints: list[Checkpoint] = field(default_factory=list)  # signed by the key, topic order
    rejected: list[Rejected] = field(default_factory=list)  # anything else found on the topic

    @property
    def newest(self) -> Checkpoint | None:
        """The witnessed checkpoint of the highest seq; None if there is none."""
        return max(self.checkpoints, key=lambda cp: cp.seq, default=None)

    @property
    def newest_seq(self) -> int:
        """The seq of the newest witnessed checkpoint; 0 if there is none."""
        newest = self.newest
        return newest.seq if newest else 0


async def read_witness(
    connection: KafkaConnection, topic: str, key: AgencyPublicKey, wait_s: float = 0.0
) -> Witness:
    """Every record on the witness topic as of now. A user or ACL created just before takes a
    moment to reach the broker: failures are retried for `wait_s`, then raised as BrokerError."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await _read(connection, topic, key)
        except (KafkaError, BrokerError) as exc:
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"cannot read the witness topic {topic} as {connection.username}: {exc}"
                ) from exc
        await asyncio.sleep(0.5)


async def _read(connection: KafkaConnection, topic: str, key: AgencyPublicKey) -> Witness:
    witness = Witness(topic)
    async for record in read_all(connection, topic):
        try:
            checkpoint = decode_checkpoint(record.value or b"")
        except ValueError as exc:
            witness.rejected.append(Rejected(record.offset, f"not a checkpoint ({exc})"))
            continue
        if signature_valid(key, checkpoint):
            witness.checkpoints.append(checkpoint)
        else:
            witness.rejected.append(
                Rejected(record.offset, f"checkpoint {checkpoint.seq} not signed by the audit key")
            )
    return witness
