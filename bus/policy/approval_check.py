"""Do the approvals at hand satisfy what a change needs? Pure: the same answer for `bus policy
apply`, `bus policy approvals` and the enforcer reading the policy topic."""

from collections.abc import Iterable
from dataclasses import dataclass

from bus.policy.approval_needs import Needs, Requirement, needs
from bus.policy.approval_signatures import Approval, problem_with
from bus.policy.loader import PolicySet


@dataclass(frozen=True)
class Shortfall:
    """A requirement not met: how many more approvers of the kind it names are needed."""

    requirement: Requirement
    have: tuple[str, ...]  # the valid approvers who count towards it

    def describe(self) -> str:
        """One line: what is missing (`bus policy approvals` says why it is needed)."""
        r = self.requirement
        who = f"role {r.name}" if r.kind == "role" else f"an approver for data owner {r.name}"
        have = f" (have: {', '.join(self.have)})" if self.have else ""
        return f"missing {r.count - len(self.have)} × {who}{have}"


@dataclass(frozen=True)
class Verdict:
    """What the change needs, which approvals count (`valid`: approver ids), which do not and why,
    and what is missing (nothing: the change may be applied)."""

    needs: Needs
    valid: tuple[str, ...]
    invalid: tuple[tuple[str, str], ...]  # (approver as claimed, why it does not count)
    missing: tuple[Shortfall, ...]

    @property
    def unchanged(self) -> bool:
        """Whether the new set is the one it would replace (nothing to approve, nothing to do)."""
        return self.needs.snapshot == self.needs.parent

    @property
    def approved(self) -> bool:
        """Whether every requirement is met."""
        return not self.missing

    def refusal(self) -> str:
        """Why the change is refused, on one line (for the log and RefusedRecord)."""
        return "under-approved: " + "; ".join(s.describe() for s in self.missing)


def check(
    old: PolicySet | None,
    new: PolicySet,
    approvals: Iterable[Approval],
    *,
    any_parent: bool = False,
) -> Verdict:
    """Judge replacing `old` (None: nothing in force) by `new` with `approvals` (see
    approval_signatures.problem_with for `any_parent`)."""
    need = needs(old, new)
    valid: list[str] = []
    invalid: list[tuple[str, str]] = []
    for approval in approvals:
        problem = problem_with(
            approval, need.approvers, need.snapshot, need.parent, any_parent=any_parent
        )
        if problem is not None:
            invalid.append((approval.approver, problem))
        elif approval.approver not in valid:  # one approver signing twice still counts once
            valid.append(approval.approver)
    missing = []
    for requirement in need.requirements:
        have = tuple(sorted(requirement.holders(need.approvers) & set(valid)))
        if len(have) < requirement.count:
            missing.append(Shortfall(requirement, have))
    return Verdict(need, tuple(sorted(valid)), tuple(invalid), tuple(missing))
