"""What an auditor may ask for: filters, validated once for the API and the CLI alike.

Every value is checked before it reaches the store: names and reason codes by pattern, free text
without control characters (PostgreSQL refuses NUL in text), times as RFC 3339 with a zone only,
numbers within the store's 64-bit integers.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from bus.audit.columns import epoch_micros
from bus.audit.store.decision_filter import DecisionFilter
from bus.errors import BusError
from bus.record.audit_record import AUDIT_AUDIENCE, RecordedOutcome
from bus.record.pseudonyms import Pseudonymizer
from bus.util.encoding import b64url_decode, b64url_encode

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
ReasonCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,63}$")]
# Printable text: no control characters (NUL, newlines) to reach a database or a log line.
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
MAX_PAGE = 1_000
MAX_ID = 2**63 - 1  # decision ids are the store's 64-bit seq
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _rfc3339(value: Any) -> Any:
    """Only RFC 3339 text with a zone: not a Unix time (`-1`), not a date, not a naive time."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("expected RFC 3339 with a time zone, e.g. 2026-11-01T00:00:00Z")
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class Bucket(StrEnum):
    """How statistics are grouped in time."""

    MONTH = "month"
    DAY = "day"
    HOUR = "hour"

    @property
    def chars(self) -> int:
        """How much of an RFC 3339 time names the bucket."""
        return {Bucket.MONTH: 7, Bucket.DAY: 10, Bucket.HOUR: 13}[self]


class DecisionQuery(BaseModel):
    """Which decisions an auditor asks for: every field narrows the answer, none is required.
    Validated once, here, for the API's parameters and bodies and the CLI's options alike."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer: Name | None = None
    producer: Name | None = None
    event_type: Name | None = None
    purpose: Name | None = None
    outcome: RecordedOutcome | None = None
    reason: ReasonCode | None = None
    since: Rfc3339 | None = Field(None, description="inclusive, RFC 3339 with a time zone")
    until: Rfc3339 | None = Field(None, description="exclusive, RFC 3339 with a time zone")
    subject: Text | None = Field(
        None, description="the person's real identifier; pseudonymised before the store sees it"
    )
    event_id: Text | None = None

    @field_validator("until")
    @classmethod
    def _after_since(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and since >= until:
            raise ValueError("until must lie after since")
        return until

    def to_filter(self, pseudonyms: Pseudonymizer | None, dpo_of: str | None) -> DecisionFilter:
        """`dpo_of` scopes to what that agency's data-protection officer may see (bus/audit/
        scope.py); None for an auditor, who sees everything. `pseudonyms` is needed only when a
        subject is asked for."""
        if self.subject and pseudonyms is None:
            raise ValueError("a query by subject needs the pseudonym key")
        return DecisionFilter(
            consumer=self.consumer,
            producer=self.producer,
            event_type=self.event_type,
            purpose=self.purpose,
            outcome=self.outcome.value if self.outcome else None,
            reason=self.reason,
            since_us=_micros(self.since),
            until_us=_micros(self.until),
            subject_pseudonym=(
                pseudonyms.pseudonym(AUDIT_AUDIENCE, self.subject)
                if self.subject and pseudonyms
                else None
            ),
            event_id=self.event_id,
            dpo_of=dpo_of,
        )


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else epoch_micros(moment)


class CursorError(BusError, ValueError):
    """A page cursor this API did not hand out (the API answers 400, the CLI names it)."""


def encode_cursor(seq: int) -> str:
    """Opaque to clients: the position after which the next page starts."""
    return b64url_encode(f"before:{seq}".encode())


def decode_cursor(cursor: str) -> int:
    """The position `encode_cursor` handed out; CursorError for anything else."""
    try:
        text = b64url_decode(cursor).decode()
        prefix, _, number = text.partition(":")
        if prefix != "before" or not number.isascii() or not number.isdigit():
            raise ValueError(text)
        if not 1 <= int(number) <= MAX_ID:
            raise ValueError(text)
        return int(number)
    except ValueError as exc:
        raise CursorError(
            "cursor is not one this API handed out; use next_cursor from the previous page"
        ) from exc
