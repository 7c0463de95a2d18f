"""What the audit store hands out and takes in: records read from the audit topic, stored
decisions, chain rows for `verify`, the result of an append, statistics rows; and how a database
row becomes one of them."""

import json
from dataclasses import dataclass
from typing import Any

from bus.audit.checkpoint import Cadence, Checkpoint
from bus.audit.columns import Columns

Position = tuple[str, int]  # topic, partition


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as read from the audit topic."""

    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """One stored audit record: its place in the chain (`seq`), where it was read on the audit
    topic, its bytes as read, and the columns indexed from them."""

    seq: int
    source_topic: str
    source_partition: int
    source_offset: int
    record: bytes
    columns: Columns


@dataclass(frozen=True, slots=True)
class ChainRow:
    """What `verify` needs of one stored record."""

    seq: int
    prev_hash: bytes
    hash: bytes
    record: bytes
    stored_columns: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one `append` did: the checkpoints it signed, the records it could not read (stored
    as UNREADABLE), the newest seq, how many records no checkpoint signs yet, and how many
    records and policy snapshots it stored."""

    checkpoints: list[Checkpoint]
    unreadable: list[SourceRecord]  # kept as UNREADABLE: nothing is dropped, but say so
    head_seq: int
    unsigned: int  # records after the newest checkpoint
    appended: int
    snapshots: int


@dataclass(frozen=True, slots=True)
class StatRow:
    """One row of `stats`: decisions per time bucket, consumer, outcome and reasons."""

    bucket: str
    consumer: str | None
    outcome: str
    reasons: str
    count: int


def checkpoint_of_row(row: tuple[Any, ...]) -> Checkpoint:
    """A checkpoint as the store's `checkpoints` table holds it."""
    seq, chain_hash, signed_at, key_id, signature, positions, records, ms = row
    return Checkpoint(
        int(seq),
        chain_hash,
        signed_at,
        key_id,
        bytes(signature),
        None
        if positions is None
        else tuple((t, int(p), int(o)) for t, p, o in json.loads(positions)),
        None if records is None else Cadence(int(records), int(ms)),
    )


def decision_of_row(row: tuple[Any, ...]) -> StoredDecision:
    """A stored decision from a row of the store's decision SELECT."""
    return StoredDecision(
        seq=int(row[0]),
        source_topic=row[1],
        source_partition=int(row[2]),
        source_offset=int(row[3]),
        record=bytes(row[4]),
        columns=Columns(*row[5:]),
    )
