"""Which policy set is in force when changes need approvals: each set on the policy topic must be
approved for replacing the one accepted before it, under that one's rules (approval_needs.py), or
it is refused and the one before stays in force — even if it was written with admin credentials,
bypassing `bus policy apply`.

The sets are taken as compaction will leave them (policy_in_force.py: the last record of each key,
withdrawn ones left out), oldest first. The first of them is judged by its own rules, with any
parent: what came before it is gone (withdrawn, or compacted away), so its approvals' parent cannot
be checked. Withdrawing sets therefore can reinstate a set once approved, never install one that no
quorum approved.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bus.control.policy_in_force import NewestInForce, PolicyInForce
from bus.control.refused_records import RefusedRecord
from bus.policy.approval_check import check
from bus.policy.approval_signatures import Approval
from bus.policy.loader import PolicySet

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class PolicyRecord:
    """One record of the policy topic (value None: a tombstone)."""

    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


def approved_in_force(
    topic: str,
    records: Sequence[PolicyRecord],
    read: Callable[[bytes | None, bytes], PolicySet],
    approvals_of: Callable[[Headers], tuple[Approval, ...]],
) -> PolicyInForce:
    """The newest set whose approvals chain back to the first set on the topic (`records` oldest
    first); the records refused (malformed or under-approved) and the sets withdrawn after it."""
    choice = NewestInForce(topic, read)
    candidates: list[tuple[PolicyRecord, PolicySet]] = []  # newest first
    for record in reversed(records):
        found = choice.offer(record.offset, record.key, record.value)
        if found is not None and found.policy is not None:
            candidates.append((record, found.policy))
    everything = choice.none_in_force()
    accepted: tuple[PolicyRecord, PolicySet] | None = None
    refused = list(everything.refused)
    for record, policy in reversed(candidates):
        parent = accepted[1] if accepted else None
        verdict = check(parent, policy, approvals_of(record.headers), any_parent=accepted is None)
        if verdict.approved:
            accepted = (record, policy)
        else:
            refused.append(RefusedRecord(topic, record.offset, record.key, verdict.refusal()))
    after = accepted[0].offset if accepted else -1  # what was met on the way to the set in force
    return PolicyInForce(
        accepted[1] if accepted else None,
        accepted[0].offset if accepted else None,
        tuple(sorted((r for r in refused if r.offset > after), key=lambda r: -r.offset)),
        tuple(w for w in everything.withdrawn if w.offset > after),
    )
