"""`bus policy sign` and `bus policy approvals`: approving a change to the policy set, and seeing
which approvals it has and still needs (under the rules of the set in force)."""

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bus.cli.params import PolicyTopicOption, ProfileOption, approver_id
from bus.control.policy_apply import in_force
from bus.kafka.profile import load_profile
from bus.kafka.topics import POLICY_TOPIC
from bus.keys import AgencySigningKey
from bus.policy.approval_check import Verdict, check
from bus.policy.approval_files import ApprovalFiles, read_approvals, write_approval
from bus.policy.approval_signatures import sign as sign_change
from bus.policy.loader import PolicySet, load_policy_set
from bus.policy.snapshot import content_hash

PolicyDir = Annotated[
    Path,
    typer.Argument(
        metavar="DIR",
        help="The new policy set, e.g. policies/reference.",
        exists=True,
        file_okay=False,
    ),
]
AgainstOption = Annotated[
    Path | None,
    typer.Option(
        "--against",
        metavar="OLD_DIR",
        help="Judge the change from this set instead of the set in force on the bus.",
        exists=True,
        file_okay=False,
    ),
]
FirstOption = Annotated[
    bool,
    typer.Option("--first", help="Nothing is in force yet: the set's own rules apply."),
]


def parent_set(
    against: Path | None, first: bool, policy_topic: str, profile: Path | None
) -> PolicySet | None:
    """The set the change replaces: --first (none), --against OLD_DIR, else the one in force."""
    if first and against is not None:
        raise typer.BadParameter("give --first or --against, not both", param_hint="--first")
    if first:
        return None
    if against is not None:
        return load_policy_set(against)
    return asyncio.run(in_force(load_profile("operator", profile), policy_topic))


def sign(
    directory: PolicyDir,
    key: Annotated[
        Path,
        typer.Option(
            "--key", metavar="FILE", help="Your Ed25519 private key (PEM).", dir_okay=False
        ),
    ],
    approver: Annotated[
        str,
        typer.Option(
            "--approver", metavar="ID", help="Your id in approvals.yaml.", callback=approver_id
        ),
    ],
    against: AgainstOption = None,
    first: FirstOption = False,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    profile: ProfileOption = None,
) -> None:
    """Approve replacing the set in force by the set in DIR: writes DIR/signatures/<ID>.json, a
    detached signature over both sets' hashes (it counts for this change only)."""
    signing_key = AgencySigningKey.from_pem_file(approver, key)  # errors name the file
    new = load_policy_set(directory)
    old = parent_set(against, first, policy_topic, profile)
    approval = sign_change(
        signing_key, content_hash(new), None if old is None else content_hash(old)
    )
    path = write_approval(directory, approval)
    typer.echo(
        f"signed: {path} approves {approval.snapshot} replacing {approval.parent or 'nothing'}"
    )
    verdict = check(old, new, [approval])
    if not any(approver == a.id for a in verdict.needs.approvers):
        typer.echo(
            f"note: {approver} is not an approver of the governing set: this approval will not count",
            err=True,
        )


def approvals(
    directory: PolicyDir,
    against: AgainstOption = None,
    first: FirstOption = False,
    policy_topic: PolicyTopicOption = POLICY_TOPIC,
    profile: ProfileOption = None,
) -> None:
    """List the approvals DIR/signatures/ holds and those the change still needs (exit 1 if any
    is missing)."""
    new = load_policy_set(directory)
    old = parent_set(against, first, policy_topic, profile)
    files = read_approvals(directory)
    verdict = check(old, new, files.approvals)
    typer.echo(describe_verdict(verdict, files))
    if not verdict.approved:
        raise typer.Exit(1)


def describe_verdict(verdict: Verdict, files: ApprovalFiles | None = None) -> str:
    """What a change needs, which approvals count, which do not (and why), and what is missing."""
    need = verdict.needs
    lines = [f"change: {need.parent or 'nothing in force'} -> {need.snapshot}"]
    lines.append("needs:")
    lines += [f"  {r.describe()}" for r in need.requirements] or [
        "  no approvals (the governing set has no approval rules, or nothing changes)"
    ]
    lines.append(f"present: {', '.join(verdict.valid) or 'none'}")
    lines += [f"not counted: {who}: {why}" for who, why in verdict.invalid]
    if files is not None:
        lines += [f"not an approval: {path}: {why}" for path, why in files.unreadable]
    if verdict.missing:
        lines += ["missing:"] + [f"  {s.describe()}" for s in verdict.missing]
    lines.append("approved" if verdict.approved else f"{len(verdict.missing)} requirement(s) unmet")
    return "\n".join(lines)
