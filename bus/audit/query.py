"""What an auditor may ask for: filters, validated once for the API and the CLI alike."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bus.audit.columns import epoch_micros
from bus.audit.store.audit_store import DecisionFilter
from bus.encoding import b64url_decode, b64url_encode
from bus.enforcer.pipeline import AUDIT_AUDIENCE
from bus.enforcer.pseudonyms import Pseudonymizer

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
ReasonCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,63}$")]
MAX_PAGE = 1_000


class RecordedOutcome(StrEnum):
    PERMIT = "PERMIT"
    DENY = "DENY"
    QUARANTINED = "QUARANTINED"
    SUBSCRIPTION_REFUSED = "SUBSCRIPTION_REFUSED"


class Bucket(StrEnum):
    MONTH = "month"
    DAY = "day"
    HOUR = "hour"

    @property
    def chars(self) -> int:
        """How much of an RFC 3339 time names the bucket."""
        return {Bucket.MONTH: 7, Bucket.DAY: 10, Bucket.HOUR: 13}[self]


class DecisionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer: Name | None = None
    producer: Name | None = None
    event_type: Name | None = None
    purpose: Name | None = None
    outcome: RecordedOutcome | None = None
    reason: ReasonCode | None = None
    since: AwareDatetime | None = Field(None, description="inclusive, with a time zone")
    until: AwareDatetime | None = Field(None, description="exclusive, with a time zone")
    subject: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="the person's real identifier; pseudonymised before the store sees it"
    )
    event_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @field_validator("until")
    @classmethod
    def _after_since(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and since >= until:
            raise ValueError("until must lie after since")
        return until

    def to_filter(self, pseudonyms: Pseudonymizer | None, agency: str | None) -> DecisionFilter:
        """`agency` scopes to decisions it produced or consumed (an agency's data-protection
        officer); None for an auditor, who sees everything. `pseudonyms` is needed only when a
        subject is asked for."""
        if self.subject and pseudonyms is None:
            raise ValueError("a query by subject needs the pseudonym key")
        return DecisionFilter(
            consumer=self.consumer, producer=self.producer, event_type=self.event_type,
            purpose=self.purpose, outcome=self.outcome.value if self.outcome else None,
            reason=self.reason, since_us=_micros(self.since), until_us=_micros(self.until),
            subject_pseudonym=(
                pseudonyms.pseudonym(AUDIT_AUDIENCE, self.subject)
                if self.subject and pseudonyms
                else None
            ),
            event_id=self.event_id, agency=agency,
        )  # fmt: skip


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else epoch_micros(moment)


class CursorError(ValueError):
    pass


def encode_cursor(seq: int) -> str:
    """Opaque to clients: the position after which the next page starts."""
    return b64url_encode(f"before:{seq}".encode())


def decode_cursor(cursor: str) -> int:
    try:
        text = b64url_decode(cursor).decode()
        prefix, _, number = text.partition(":")
        if prefix != "before" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except ValueError as exc:
        raise CursorError(
            "cursor is not one this API handed out; use next_cursor from the previous page"
        ) from exc
