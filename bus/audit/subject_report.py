"""The data-subject report: who received data about a person, which fields, when, why; and
what was refused. Answers the citizen's "who got my data?" (GDPR Art. 15(1)(c)).

An agency's data-protection officer gets its agency's receipts only: no refusal (it would tell
where the person lives now, or that the person is protected), no pseudonym (bus/audit/scope.py)."""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import jinja2

from bus.audit.erasure_status import Erasure, ErasureLookup
from bus.audit.store.audit_store import AuditStore
from bus.audit.store.decision_filter import DecisionFilter
from bus.audit.store.rows import StoredDecision
from bus.envelope.attributes import format_time
from bus.record.audit_record import RecordedOutcome

MAX_REPORT_DECISIONS = 10_000


@dataclass(frozen=True, slots=True)
class Receipt:
    """One delivery of data about the person: to which agency, which fields, when and why."""

    decision_id: int | str  # a DPO's own id for it (bus/audit/dpo_ids.py)
    agency: str | None
    event_type: str | None
    fields: list[str]
    received_at: str | None
    purpose: str | None
    legal_basis: str | None
    producer: str | None
    event_id: str | None
    # Storage limitation (bus/audit/erasure_status.py): by when the agency must have erased its
    # copy, when it reported it erased, and the state: erased, due, overdue or unknown.
    erase_by: str | None
    erased_at: str | None
    erasure: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """One decision that delivered nothing about the person (a denial, a quarantine), and why."""

    decision_id: int
    agency: str | None  # None: the event itself was refused (quarantined), for everyone
    event_type: str | None
    decided_at: str | None
    purpose: str | None
    outcome: str
    reasons: list[str]
    producer: str | None
    event_id: str | None


@dataclass(frozen=True, slots=True)
class InterestChange:
    """An agency registered (or removed) an interest in the person: it has (or closed) a case
    about them, so events about them may (no longer) reach it for `purpose`."""

    decision_id: int
    agency: str | None
    purpose: str | None
    registered: bool  # False: the marker was removed
    at: str | None


_INTERESTS = {RecordedOutcome.INTEREST_ADDED, RecordedOutcome.INTEREST_REMOVED}


@dataclass(frozen=True)
class SubjectReport:
    """The report on one person, oldest decision first; `truncated` when more than
    MAX_REPORT_DECISIONS decisions matched (the newest are kept)."""

    subject_pseudonym: str | None  # None for a data-protection officer
    generated_at: str
    scope: str | None  # the agency whose receipts alone are listed; None: everything
    received: list[Receipt]
    refused: list[Refusal]
    truncated: bool
    # Interest markers on the person, registered and removed (none in an agency's report).
    interests: list[InterestChange] = field(default_factory=list)

    @property
    def agencies(self) -> list[str]:
        """The agencies that received data about the person, sorted."""
        return sorted({r.agency for r in self.received if r.agency})

    def to_json(self) -> dict[str, Any]:
        """The report as the API's JSON answer."""
        return {
            "subject_pseudonym": self.subject_pseudonym,
            "generated_at": self.generated_at,
            "scope": self.scope,
            "agencies_that_received_data": self.agencies,
            "received": [asdict(r) for r in self.received],
            "refused": [asdict(r) for r in self.refused],
            "interests": [asdict(i) for i in self.interests],
            "truncated": self.truncated,
        }


def subject_report(
    store: AuditStore,
    pseudonym: str,
    now: datetime,
    agency: str | None = None,
    shown_id: Callable[[int], int | str] = int,
) -> SubjectReport:
    """`agency`: its DPO's report, the decisions named by `shown_id` (see bus/audit/scope.py)."""
    where = DecisionFilter(subject_pseudonym=pseudonym)
    if agency is not None:
        where = DecisionFilter(
            subject_pseudonym=pseudonym, consumer=agency, outcome=RecordedOutcome.PERMIT.value
        )
    found = store.find(where, limit=MAX_REPORT_DECISIONS + 1)
    truncated = len(found) > MAX_REPORT_DECISIONS
    chronological = list(reversed(found[:MAX_REPORT_DECISIONS]))
    permits = [d for d in chronological if d.columns.outcome == RecordedOutcome.PERMIT]
    erasures = ErasureLookup(store, permits, now)
    return SubjectReport(
        subject_pseudonym=pseudonym if agency is None else None,
        generated_at=format_time(now),
        scope=agency,
        received=[_receipt(d, shown_id, erasures.of(d)) for d in permits],
        refused=[
            _refusal(d)
            for d in chronological
            if d.columns.outcome != RecordedOutcome.PERMIT and d.columns.outcome not in _INTERESTS
        ],
        truncated=truncated,
        interests=[_interest(d) for d in chronological if d.columns.outcome in _INTERESTS],
    )


def _receipt(d: StoredDecision, shown_id: Callable[[int], int | str], erasure: Erasure) -> Receipt:
    c = d.columns
    return Receipt(
        decision_id=shown_id(d.seq),
        agency=c.consumer,
        event_type=c.event_type,
        fields=c.released_fields.split(),
        received_at=c.decided_at,
        purpose=c.purpose,
        legal_basis=c.legal_basis,
        producer=c.producer,
        event_id=c.event_id,
        erase_by=erasure.erase_by,
        erased_at=erasure.erased_at,
        erasure=erasure.state.value,
    )


def _interest(d: StoredDecision) -> InterestChange:
    c = d.columns
    registered = c.outcome == RecordedOutcome.INTEREST_ADDED
    return InterestChange(d.seq, c.consumer, c.purpose, registered, c.decided_at)


def _refusal(d: StoredDecision) -> Refusal:
    c = d.columns
    return Refusal(
        decision_id=d.seq,
        agency=c.consumer,
        event_type=c.event_type,
        decided_at=c.decided_at,
        purpose=c.purpose,
        outcome=c.outcome,
        reasons=c.reasons.split(),
        producer=c.producer,
        event_id=c.event_id,
    )


def render_html(report: SubjectReport) -> str:
    """The report as an HTML page (templates/subject_report.html), every value escaped."""
    return _template().render(report=report)


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("bus.audit", "templates"),
        autoescape=True,  # every value is data; none may become markup
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("subject_report.html")
