"""The queryable columns of one audit record, derived from its bytes alone.

The record's bytes, as the enforcer wrote them, are what the hash chain protects. The columns are
an index over them; `bus audit verify` derives them again and compares, so a column edited to hide
a decision from queries is caught like an edited record.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic_core

from bus.envelope.attributes import parse_time

UNREADABLE = "UNREADABLE"


@dataclass(frozen=True, slots=True)
class Columns:
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
        return (
            self.event_id, self.claimed_event_id, self.event_type, self.producer, self.consumer,
            self.purpose, self.legal_basis, self.outcome, self.reasons, self.released_fields,
            self.grant_id, self.snapshot_hash, self.decided_at, self.decided_at_us,
            self.subject_pseudonym,
        )  # fmt: skip


_UNREADABLE_COLUMNS = Columns(
    event_id=None, claimed_event_id=None, event_type=None, producer=None, consumer=None,
    purpose=None, legal_basis=None, outcome=UNREADABLE, reasons="", released_fields="",
    grant_id=None, snapshot_hash=None, decided_at=None, decided_at_us=None, subject_pseudonym=None,
)  # fmt: skip

COLUMN_NAMES = (
    "event_id", "claimed_event_id", "event_type", "producer", "consumer", "purpose", "legal_basis",
    "outcome", "reasons", "released_fields", "grant_id", "snapshot_hash", "decided_at",
    "decided_at_us", "subject_pseudonym",
)  # fmt: skip


def reasons_column(reasons: tuple[str, ...]) -> str:
    return f" {' '.join(reasons)} " if reasons else ""


def columns_of(record: bytes) -> Columns:
    """Never raises: a record that is not an audit record is kept (nothing is lost) as UNREADABLE."""
    try:
        document = pydantic_core.from_json(record)
        return _columns(document)
    except (ValueError, TypeError, KeyError):
        return _UNREADABLE_COLUMNS


def _columns(d: dict[str, Any]) -> Columns:
    reasons = tuple(_strings(d["reasons"]))
    decided_at = _text(d["decided_at"])
    decided_us = None
    if decided_at is not None:
        moment = parse_time(decided_at)
        if moment.tzinfo is None:
            raise ValueError("decided_at has no time zone")
        decided_us = epoch_micros(moment)
    outcome = d["outcome"]
    if not isinstance(outcome, str):
        raise TypeError("outcome is not a string")
    return Columns(
        event_id=_text(d.get("event_id")), claimed_event_id=_text(d.get("claimed_event_id")),
        event_type=_text(d.get("event_type")), producer=_text(d.get("producer")),
        consumer=_text(d.get("consumer")), purpose=_text(d.get("purpose")),
        legal_basis=_text(d.get("legal_basis")), outcome=outcome,
        reasons=reasons_column(reasons), released_fields=" ".join(_strings(d["released_fields"])),
        grant_id=_text(d.get("grant_id")), snapshot_hash=_text(d.get("snapshot_hash")),
        decided_at=decided_at, decided_at_us=decided_us,
        subject_pseudonym=_text(d.get("subject_pseudonym")),
    )  # fmt: skip


def epoch_micros(moment: datetime) -> int:
    """Exact (no float rounding): what range queries compare."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string, found {type(value).__name__}")


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return value
