"""Did every expectation of the scenario hold? Judged from the audit records of this run and from
each back office's own database."""

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bus.demo.scenario import Scenario
from bus.record.audit_record import AUDIT_AUDIENCE, RecordedOutcome
from bus.record.pseudonyms import Pseudonymizer
from consumers.back_offices import REFERENCE_BACK_OFFICES, BackOffice


@dataclass(frozen=True)
class Check:
    """One expectation of the demo, whether it held, and what was found if not."""

    what: str
    held: bool
    detail: str = ""


AuditRecord = Mapping[str, Any]


def step_decisions(
    scenario: Scenario, audit: Sequence[AuditRecord], pseudonyms: Pseudonymizer
) -> list[dict[str, AuditRecord]]:
    """Per step: consumer → its decision record (the events are found by the subject's pseudonym)."""
    found: list[dict[str, AuditRecord]] = [{} for _ in scenario.steps]
    keys = {
        (pseudonyms.pseudonym(AUDIT_AUDIENCE, step.event.subject()), step.event.event_type): i
        for i, step in enumerate(scenario.steps)
    }
    for record in audit:
        index = keys.get((str(record.get("subject_pseudonym")), str(record.get("event_type"))))
        if index is not None and record.get("consumer"):
            found[index][record["consumer"]] = record
    return found


def decisions_complete(scenario: Scenario, decisions: list[dict[str, AuditRecord]]) -> bool:
    """Whether every step has an audit record for each back office expected to receive or be
    denied it."""
    return all(
        set(step.receivers) | set(step.denied) <= set(found)
        for step, found in zip(scenario.steps, decisions, strict=True)
    )


def policy_checks(scenario: Scenario, decisions: list[dict[str, AuditRecord]]) -> list[Check]:
    """A check per expected decision: each receiver audited PERMIT, each denial DENY with its
    reason."""
    checks = []
    for step, found in zip(scenario.steps, decisions, strict=True):
        for office in sorted(step.receivers):
            outcome = found.get(office, {}).get("outcome")
            checks.append(
                Check(
                    f"{step.title}: {office} receives it",
                    outcome == RecordedOutcome.PERMIT,
                    f"audited {outcome}",
                )
            )
        for office, reason in sorted(step.denied.items()):
            record = found.get(office, {})
            denied = record.get("outcome") == RecordedOutcome.DENY
            held = denied and reason in record.get("reasons", ())
            checks.append(
                Check(
                    f"{step.title}: {office} denied, {reason}",
                    held,
                    f"audited {record.get('outcome')} {record.get('reasons')}",
                )
            )
    return checks


def expected_people(scenario: Scenario, office: BackOffice) -> set[str]:
    """The people `office` must receive events about."""
    return {step.event.subject() for step in scenario.steps if office.agency_id in step.receivers}


def people_in(db: sqlite3.Connection, office: BackOffice, run: str) -> dict[str, dict[str, Any]]:
    """The rows of this `run`'s people in `office`'s own table, by person id."""
    cursor = db.execute(
        f"SELECT * FROM {office.table} WHERE person_id LIKE ?",  # noqa: S608 - our table name
        (f"{run}-%",),
    )
    names = [c[0] for c in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def database_checks(scenario: Scenario, databases: Mapping[str, sqlite3.Connection]) -> list[Check]:
    """A check per back office: its database holds exactly the people it was sent."""
    checks = []
    for office in REFERENCE_BACK_OFFICES:
        held = set(people_in(databases[office.agency_id], office, scenario.run))
        expected = expected_people(scenario, office)
        checks.append(
            Check(
                f"{office.title} holds exactly the people it was sent",
                held == expected,
                f"holds {sorted(held)}, expected {sorted(expected)}",
            )
        )
    return checks


def office_complete(scenario: Scenario, office: BackOffice, db: sqlite3.Connection) -> bool:
    """Everyone it was sent is in its table, and every death it was sent is applied."""
    people = people_in(db, office, scenario.run)
    return set(people) == expected_people(scenario, office) and all(
        people[step.event.subject()].get("died_on")
        for step in scenario.steps
        if office.agency_id in step.receivers and step.event.event_type == "population.PersonDied"
    )
