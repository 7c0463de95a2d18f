"""The queryable columns of one audit record, derived from its bytes alone.

The record's bytes, as the enforcer wrote them, are what the hash chain protects. The columns are
an index over them; `bus audit verify` derives them again and compares, so a column edited to hide
a decision from queries is caught like an edited record.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec

from bus.envelope.attributes import parse_time

UNREADABLE = "UNREADABLE"


class Columns(NamedTuple):
    """A NamedTuple: it is the row itself, and built faster than a frozen dataclass (2.6 against
    4.3 µs for 15 fields, measured here with timeit)."""

    event_id: str | None
    claimed_event_id: str | None
    event_type: str | None
    producer: str | None
    consumer: str | None
    purpose: str | None
    legal_basis: str | None
    outcome: str
    reasons: str  # " A B ": each reason between spaces, so `LIKE '% A %'` finds one exactly
    released_fields: str  # space-separated, as released
    grant_id: str | None
    snapshot_hash: str | None
    decided_at: str | None
    decided_at_us: int | None  # microseconds since the epoch: range queries on an integer
    subject_pseudonym: str | None

    def as_row(self) -> tuple[Any, ...]:
        return self


_UNREADABLE_COLUMNS = Columns(
    event_id=None,
    claimed_event_id=None,
    event_type=None,
    producer=None,
    consumer=None,
    purpose=None,
    legal_basis=None,
    outcome=UNREADABLE,
    reasons="",
    released_fields="",
    grant_id=None,
    snapshot_hash=None,
    decided_at=None,
    decided_at_us=None,
    subject_pseudonym=None,
)

COLUMN_NAMES: tuple[str, ...] = Columns._fields


def reasons_column(reasons: tuple[str, ...]) -> str:
    return f" {' '.join(reasons)} " if reasons else ""


class _Recorded(msgspec.Struct, frozen=True):
    """The fields of an audit record that become columns; other fields are ignored. Decoded and
    type-checked by msgspec: 5–6 µs per record against 13–21 µs for the pydantic model it
    replaced (same records, same run), a third of the store's ingest time before."""

    outcome: str
    reasons: list[str]
    released_fields: list[str]
    event_id: str | None = None
    claimed_event_id: str | None = None
    event_type: str | None = None
    producer: str | None = None
    consumer: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    grant_id: str | None = None
    snapshot_hash: str | None = None
    decided_at: str | None = None
    subject_pseudonym: str | None = None


_decode = msgspec.json.Decoder(_Recorded).decode


def columns_of(record: bytes) -> Columns:
    """Never raises: a record that is not an audit record is kept (nothing is lost) as UNREADABLE."""
    try:
        d = _decode(record)
        decided_us = None if d.decided_at is None else epoch_micros(parse_time(d.decided_at))
    except (msgspec.MsgspecError, ValueError, TypeError):
        return _UNREADABLE_COLUMNS
    return Columns(
        event_id=d.event_id,
        claimed_event_id=d.claimed_event_id,
        event_type=d.event_type,
        producer=d.producer,
        consumer=d.consumer,
        purpose=d.purpose,
        legal_basis=d.legal_basis,
        outcome=d.outcome,
        reasons=reasons_column(tuple(d.reasons)),
        released_fields=" ".join(d.released_fields),
        grant_id=d.grant_id,
        snapshot_hash=d.snapshot_hash,
        decided_at=d.decided_at,
        decided_at_us=decided_us,
        subject_pseudonym=d.subject_pseudonym,
    )


def epoch_micros(moment: datetime) -> int:
    """Exact (no float rounding): what range queries compare."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
