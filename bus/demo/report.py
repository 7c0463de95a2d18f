"""What the demo prints at the end: per back office what it received and what it did not, the
decisions by outcome and reason, every expectation, and where the audit trail is."""

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from bus.demo.audit_trail import AuditTrailResult
from bus.demo.judge import people_in, step_decisions
from bus.demo.runner import DemoResult
from bus.kafka.topics import ALERTS_TOPIC, AUDIT_TOPIC
from bus.record.audit_record import RecordedOutcome
from consumers.back_offices import REFERENCE_BACK_OFFICES

ADDRESS_PARTS = ("street", "house_number", "postal_code", "municipality_code", "country")


def print_report(console: Console, result: DemoResult) -> None:
    """Print the end-of-demo report of `result` to `console`."""
    assert result.pseudonyms is not None
    scenario = result.scenario
    decisions = step_decisions(scenario, result.audit, result.pseudonyms)
    for office in REFERENCE_BACK_OFFICES:
        people = people_in(result.databases[office.agency_id], office, scenario.run)
        columns = office.columns(result.databases[office.agency_id])
        others = [c for c in columns if c not in ADDRESS_PARTS and c != "person_id"]
        table = Table(
            title=f"{office.title} ({office.agency_id}) — its own table `{office.table}`",
            title_justify="left",
        )
        for column in ["person_id", "address", *others]:
            table.add_column(column)
        for row in people.values():
            address = " ".join(str(row[c]) for c in ADDRESS_PARTS if row.get(c) is not None)
            table.add_row(
                row["person_id"], address, *("" if row[c] is None else str(row[c]) for c in others)
            )
        console.print(table)
        withheld = [
            f"  not received: {step.title} — {', '.join(found[office.agency_id]['reasons'])}"
            for step, found in zip(scenario.steps, decisions, strict=True)
            if office.agency_id in found
            and found[office.agency_id]["outcome"] != RecordedOutcome.PERMIT
        ]
        console.print("\n".join(withheld) or "  received everything it was subscribed to")
        console.print()

    outcomes = Counter(
        (r.get("outcome"), ", ".join(r.get("reasons", ()))) for r in _of_this_run(result)
    )
    table = Table(title="Decisions of this run, by outcome and reason", title_justify="left")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for (outcome, reason), count in sorted(outcomes.items()):
        table.add_row(str(outcome), reason, str(count))
    console.print(table)

    console.print()
    for check in result.checks:
        mark = "[green]✓[/green]" if check.held else "[red]✗[/red]"
        detail = "" if check.held else f"  [red]{check.detail}[/red]"
        console.print(f"{mark} {check.what}{detail}")
    console.print()
    if result.audit_trail is not None:
        _print_audit_trail(console, result.audit_trail)
    if result.watch_alert is not None:
        alert = result.watch_alert
        console.print(
            f"The oversight watch ([bold]bus watch[/bold], on {AUDIT_TOPIC}) raised "
            f"[bold]{alert.rule}[/bold] to {ALERTS_TOPIC}: {alert.summary}; "
            f"{len(alert.decisions)} of the decisions behind it named.\n"
        )
    console.print(
        f"Every decision above is an audit record on the topic [bold]{AUDIT_TOPIC}[/bold], indexed "
        "into the audit store (event, consumer, purpose, legal basis, outcome, reasons, released "
        "fields, grant, policy snapshot, subject as a pseudonym). Ask it yourself:\n"
        f"  .venv/bin/bus audit query --event-id {result.forged_event_id}   (the forged event)\n"
        f"  .venv/bin/bus audit report --subject {_subject(result)} --html ben.html\n"
        "  .venv/bin/bus audit stats   .venv/bin/bus audit verify   .venv/bin/bus audit reconcile\n"
        "  .venv/bin/bus audit token issue me --role auditor && .venv/bin/bus audit serve\n"
        "  then open the auditors' console at http://127.0.0.1:8600/console (sign in with the "
        "token: decisions, alerts, the citizen's report) or the API at http://127.0.0.1:8600/docs\n"
        f"Back-office databases of this run: {result.workdir}"
    )


def _print_audit_trail(console: Console, trail: AuditTrailResult) -> None:
    report = trail.report
    table = Table(
        title=f"Who got data about {trail.subject}? (data-subject report from {trail.store})",
        title_justify="left",
    )
    for column in ("time", "agency", "fields received", "purpose", "legal basis / why not"):
        table.add_column(column)
    for r in report.received:
        table.add_row(
            _clock(r.received_at),
            r.agency or "",
            ", ".join(r.fields),
            r.purpose or "",
            r.legal_basis or "",
        )
    for f in report.refused:
        table.add_row(
            _clock(f.decided_at),
            f.agency or "everyone",
            "[red]nothing[/red]",
            f.purpose or "",
            ", ".join(f.reasons),
        )
    console.print(table)
    integrity = trail.integrity
    console.print(
        f"audit store: {integrity.records} records, {integrity.checkpoints} signed checkpoints, "
        f"{'[green]intact[/green]' if integrity.intact else '[red]TAMPERED[/red]'}"
    )
    console.print()


def _clock(moment: str | None) -> str:
    """The time of day: the demo's decisions are all from this minute."""
    return (moment or "")[11:19]


def _subject(result: DemoResult) -> str:
    return result.audit_trail.subject if result.audit_trail else "PERSON-ID"


def _of_this_run(result: DemoResult) -> list[dict[str, Any]]:
    assert result.pseudonyms is not None
    mine = {
        record.get("event_id")
        for found in step_decisions(result.scenario, result.audit, result.pseudonyms)
        for record in found.values()
    } | {result.forged_event_id}
    consumer, _, purpose = result.scenario.refused_subscription
    return [
        r
        for r in result.audit
        if r.get("event_id") in mine
        or r.get("claimed_event_id") == result.forged_event_id
        or (
            r.get("outcome") == RecordedOutcome.SUBSCRIPTION_REFUSED
            and (r.get("consumer"), r.get("purpose")) == (consumer, purpose)
        )
    ]
