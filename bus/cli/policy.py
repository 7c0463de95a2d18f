"""`bus policy …`: check, explain, diff, export to Cedar, and apply a policy set to the bus."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bus.cli.params import PolicyTopicOption, ProfileOption, agency_id, purpose_code
from bus.cli.policy_approvals import approvals, describe_verdict, sign
from bus.cli.policy_history import history
from bus.control import policy_store
from bus.control.policy_apply import apply_approved
from bus.control.service_principals import claimed_by_agencies
from bus.kafka.admin import KafkaAdmin
from bus.kafka.profile import load_profile
from bus.kafka.topics import POLICY_TOPIC
from bus.policy.approval_files import read_approvals
from bus.policy.approval_needs import needs
from bus.policy.cedar_export import export_cedar, write_export
from bus.policy.decision import Decision, ProducerDecision
from bus.policy.diff import diff as diff_sets
from bus.policy.engine import authorize_producer, decide
from bus.policy.explain_input import load_event_file
from bus.policy.facts import Subscription, facts_of
from bus.policy.lint import format_findings, lint
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot

app = typer.Typer(
    help="The policy set: who may receive which fields of which events, and why.",
    no_args_is_help=True,
)

PolicyDir = Annotated[
    Path,
    typer.Argument(
        metavar="DIR",
        help="A policy set directory, e.g. policies/reference.",
        exists=True,
        file_okay=False,
    ),
]
EVENT_HELP = (
    "A JSON file holding one event: "
    '{"type": "population.AddressChanged", "version": 1, "producer": "muni-09362000", '
    '"data": {...the event\'s fields...}}. See policies/reference/examples/.'
)


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


@app.command()
def check(directory: PolicyDir) -> None:
    """Load, lint and compile a policy set; exit 1 if it has any error."""
    policy_set = load_policy_set(directory)  # load errors name file:line: key (BusError)
    findings = lint(policy_set)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if findings:
        typer.echo(format_findings(findings))
    if errors:
        summary = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
        typer.echo(f"policy set has {summary}; nothing compiled", err=True)
        raise typer.Exit(1)
    snapshot = compile_snapshot(policy_set)
    agencies, grants = len(policy_set.agencies.agencies), len(policy_set.grants.grants)
    typer.echo(
        f"policy set OK: {_plural(agencies, 'agency', 'agencies')}, {_plural(grants, 'grant')}, "
        f"snapshot {snapshot.hash} ({_plural(warnings, 'warning')})"
    )


def _parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not ISO 8601", param_hint="--at") from None
    if at.tzinfo is None:  # a naive time would silently mean the machine's zone
        raise typer.BadParameter(f"{value!r} has no time zone; add Z or +01:00", param_hint="--at")
    return at


@app.command()
def explain(
    directory: PolicyDir,
    event_file: Annotated[Path, typer.Option("--event", metavar="FILE", help=EVENT_HELP)],
    consumer: Annotated[
        str, typer.Option("--consumer", metavar="ID", help="Agency id.", callback=agency_id)
    ],
    purpose: Annotated[
        str,
        typer.Option("--purpose", metavar="CODE", help="Purpose code.", callback=purpose_code),
    ],
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="ISO8601", help="Decision time with zone (default: now)."),
    ] = None,
    producer: Annotated[
        str | None,
        typer.Option(
            "--producer", metavar="ID", help="Override the file's producer.", callback=agency_id
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    with_interest: Annotated[
        bool,
        typer.Option(
            "--with-interest",
            help="Decide as if the consumer held an interest marker on the person (a grant with"
            " requires_interest denies NO_INTEREST without one).",
        ),
    ] = False,
) -> None:
    """Decide one event for one consumer and purpose, and say why (exit 0 for PERMIT and DENY).

    The event file holds {"type", "version", "producer", "data"}; see --event.
    """
    when = _parse_at(at)
    snapshot = compile_snapshot(load_policy_set(directory))
    event_input = load_event_file(event_file)
    event, publisher = event_input.event, producer or event_input.producer
    facts = facts_of(event, publisher)
    producer_check = authorize_producer(snapshot, facts)
    subscription = Subscription(consumer, event.event_type, purpose)
    decision = decide(snapshot, facts, subscription, when.timestamp(), has_interest=with_interest)
    if as_json:
        document: dict[str, Any] = decision.to_json()
        document["at"] = when.isoformat()
        document["producer_check"] = producer_check.to_json()
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    typer.echo(_explain_text(decision, producer_check, when))


def _explain_text(decision: Decision, producer_check: ProducerDecision, at: datetime) -> str:
    rows = [
        ("outcome", decision.outcome.value),
        ("reasons", ", ".join(r.value for r in decision.reasons)),
        ("explanation", decision.explanation),
        ("consumer", decision.consumer),
        ("event type", decision.event_type),
        ("purpose", decision.purpose),
        ("at", at.isoformat()),
        ("grant", decision.grant_id or "-"),
        ("released", ", ".join(decision.released_fields) or "-"),
        ("legal basis", decision.legal_basis or "-"),
        ("producer", producer_check.explanation),
        ("snapshot", decision.snapshot_hash),
    ]
    return "\n".join(f"{name + ':':<13}{value}" for name, value in rows)


@app.command()
def diff(
    old: Annotated[
        Path,
        typer.Argument(metavar="OLD", help="The policy set before.", exists=True, file_okay=False),
    ],
    new: Annotated[
        Path,
        typer.Argument(metavar="NEW", help="The policy set after.", exists=True, file_okay=False),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
) -> None:
    """Say what changes from OLD to NEW: who gains or loses which fields, and document edits."""
    before, after = load_policy_set(old), load_policy_set(new)
    changes = diff_sets(before, after)
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in changes], indent=2, ensure_ascii=False))
        return
    if not changes:
        typer.echo("no changes")
        return
    for change in changes:
        typer.echo(change.describe())
    requirements = needs(before, after).requirements
    typer.echo("approvals needed (under OLD's rules, by OLD's approvers):")
    for requirement in requirements:
        typer.echo(f"  {requirement.describe()}")
    if not requirements:
        typer.echo("  none (OLD has no approval rules)")


@app.command()
def export(
    directory: PolicyDir,
    cedar: Annotated[
        Path,
        typer.Option(
            "--cedar",
            help="Folder to write the Cedar policies into.",
            file_okay=False,
            resolve_path=True,
        ),
    ],
) -> None:
    """Export the policy set as Cedar policies, entities and schema (for review or other engines)."""
    for path in write_export(export_cedar(load_policy_set(directory)), cedar):
        typer.echo(f"wrote {path}")


@app.command()
def apply(
    directory: PolicyDir,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    profile: ProfileOption = None,
) -> None:
    """Validate the set and publish it to the bus with its approvals (DIR/signatures/), as the
    bus's operator; running enforcers switch to it between two batches. A set with lint errors, or
    whose approvals do not satisfy the rules of the set in force, is refused and the one in force
    stays (`bus policy approvals DIR` says what is missing)."""
    policy_set = load_policy_set(directory)
    errors = [f for f in lint(policy_set) if f.severity == "error"]
    if errors:
        typer.echo(format_findings(errors), err=True)
        typer.echo(f"refused: {len(errors)} error(s); the policy set in force stays", err=True)
        raise typer.Exit(1)
    misplaced = claimed_by_agencies(a.kafka_principal for a in policy_set.agencies.agencies)
    if misplaced:
        typer.echo(
            f"{directory / 'agencies.yaml'}: kafka_principal {', '.join(misplaced)} is the bus's "
            "own; give each agency its own (User:<agency id>). Refused; the set in force stays",
            err=True,
        )
        raise typer.Exit(1)
    snapshot = compile_snapshot(policy_set)
    connection = load_profile("operator", profile)
    policy_store.ensure_policy_topic(KafkaAdmin(connection), policy_topic)
    files = read_approvals(directory)
    verdict = asyncio.run(apply_approved(connection, policy_set, files.approvals, policy_topic))
    if not verdict.approved:
        typer.echo(describe_verdict(verdict, files), err=True)
        typer.echo(
            "refused: approvals missing; the policy set in force stays. Each approver signs with "
            f"`bus policy sign {directory} --key FILE --approver ID`",
            err=True,
        )
        raise typer.Exit(1)
    if verdict.unchanged:
        typer.echo(f"already in force: snapshot {snapshot.hash}; nothing published")
        return
    approvers = f", approved by {', '.join(verdict.valid)}" if verdict.valid else ""
    typer.echo(f"applied: snapshot {snapshot.hash}{approvers}")


app.command()(sign)
app.command()(approvals)
app.command()(history)
