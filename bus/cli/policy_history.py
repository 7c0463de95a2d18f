"""`bus policy history`: every policy set applied on the bus, oldest first, who approved it, and
which one is in force — for auditors and the DPO (the policy topic is append-only and keeps each
version under its hash)."""

import asyncio
import json
from typing import Annotated, Any

import typer

from bus.cli.params import PolicyTopicOption, ProfileOption
from bus.control.policy_chain import Judged
from bus.control.policy_store import read_history
from bus.kafka.profile import load_profile
from bus.kafka.topics import POLICY_TOPIC


def history(
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    profile: ProfileOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the history as JSON.")] = False,
) -> None:
    """List the policy sets on the bus, oldest first: offset, snapshot, approved or refused (and
    why), and the approvers; the set in force is marked."""
    judged, in_force = asyncio.run(read_history(load_profile("operator", profile), policy_topic))
    rows = [_row(j, j.record.offset == in_force.offset) for j in judged]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no policy set has been applied")
    for row in rows:
        status = "IN FORCE" if row["in_force"] else "approved" if row["approved"] else "REFUSED"
        nobody = "nobody (no approvals needed)" if row["approved"] else "nobody"
        approvers = ", ".join(row["approved_by"]) or nobody
        typer.echo(f"offset {row['offset']}: {row['snapshot']} {status}")
        typer.echo(f"  replacing {row['parent'] or 'nothing'}; approved by {approvers}")
        if not row["approved"]:
            typer.echo(f"  {row['refusal']}")
    for refused in in_force.refused:
        if refused.reason.startswith("under-approved"):
            continue  # listed above
        typer.echo(f"not a policy set: {refused.describe()}")


def _row(judged: Judged, in_force: bool) -> dict[str, Any]:
    verdict = judged.verdict
    return {
        "offset": judged.record.offset,
        "snapshot": verdict.needs.snapshot,
        "parent": verdict.needs.parent,
        "approved": verdict.approved,
        "in_force": in_force,
        "approved_by": list(verdict.valid),
        "refusal": None if verdict.approved else verdict.refusal(),
    }
