"""The queryable columns of one audit record, derived from its bytes alone.

The record's bytes, as the enforcer wrote them, are what the hash chain protects. The columns are
an index over them; `bus audit verify` derives them again and compares, so a column edited to hide
a decision from queries is caught like an edited record. They are read with the audit record's own
strict reader (bus/record/audit_record.py): a record it refuses becomes an UNREADABLE row, kept,
never a row of NULLs that `verify` would agree with.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from bus.envelope.attributes import parse_time
from bus.record.audit_record import AuditRecord, AuditRecordError

UNREADABLE = "UNREADABLE"


class Columns(NamedTuple):
    """One row of the store's index over an audit record. A NamedTuple: it is the row itself, and
    built faster than a frozen dataclass."""

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
        """The values as the store's parameters, in COLUMN_NAMES order."""
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
    """The reasons as the store keeps them, for an exact match on one with LIKE."""
    return f" {' '.join(reasons)} " if reasons else ""


def columns_of(record: bytes) -> Columns:
    """Never raises: a record that is not an audit record is kept (nothing is lost) as UNREADABLE."""
    read = _read(record)
    return _UNREADABLE_COLUMNS if isinstance(read, str) else read


def unreadable_reason(record: bytes) -> str | None:
    """Why `columns_of` keeps `record` as UNREADABLE, in the reader's words; None if it does not."""
    read = _read(record)
    return read if isinstance(read, str) else None


def _read(record: bytes) -> Columns | str:
    try:
        d = AuditRecord.from_json_bytes(record)
    except AuditRecordError as exc:
        return str(exc)
    try:
        decided_us = epoch_micros(parse_time(d.decided_at))
    except (ValueError, TypeError):  # not a time, or one without a zone
        return f"decided_at {d.decided_at[:40]!r} is not an RFC 3339 time with a zone"
    return Columns(
        event_id=d.event_id,
        claimed_event_id=d.claimed_event_id,
        event_type=d.event_type,
        producer=d.producer,
        consumer=d.consumer,
        purpose=d.purpose,
        legal_basis=d.legal_basis,
        outcome=d.outcome.value,
        reasons=reasons_column(d.reasons),
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
