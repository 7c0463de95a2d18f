"""Which policy set is in force when changes need approvals: each set on the policy topic must be
approved for replacing the one accepted before it, under that one's rules (approval_needs.py), or
it is refused and the one before stays in force — even if it was written with admin credentials,
bypassing `bus policy apply`.

The sets are taken as compaction will leave them (policy_in_force.py: the last record of each key,
withdrawn ones left out), oldest first. The first of them is judged by its own rules, with any
parent: what came before it is gone (withdrawn, or compacted away), so its approvals' parent cannot
be checked. Withdrawing the newest sets therefore reinstates a set once approved; only withdrawing
every set lets a new first set in on its own rules (trust on first use again: the enforcer logs each
withdrawal, and `bus policy history` shows the restart).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bus.control.policy_in_force import NewestInForce, PolicyInForce
from bus.control.refused_records import RefusedRecord
from bus.policy.approval_check import Verdict, check
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


@dataclass(frozen=True)
class Judged:
    """A set on the policy topic (as compaction will leave it) and the verdict on its approvals
    against the set accepted before it."""

    record: PolicyRecord
    policy: PolicySet
    verdict: Verdict


def judge(
    topic: str,
    records: Sequence[PolicyRecord],
    read: Callable[[bytes | None, bytes], PolicySet],
    approvals_of: Callable[[Headers], tuple[Approval, ...]],
) -> tuple[list[Judged], PolicyInForce]:
    """Every set not superseded or withdrawn, oldest first, judged against the one accepted before
    it (`records` oldest first); and what the whole topic refused (malformed) and withdrew."""
    choice = NewestInForce(topic, read)
    candidates: list[tuple[PolicyRecord, PolicySet]] = []  # newest first
    for record in reversed(records):
        found = choice.offer(record.offset, record.key, record.value)
        if found is not None and found.policy is not None:
            candidates.append((record, found.policy))
    judged: list[Judged] = []
    accepted: tuple[PolicyRecord, PolicySet] | None = None
    for record, policy in reversed(candidates):
        # A record's key is its set's hash (checked by `read`): the verdict depends only on the
        # parent's key, the record's key and its headers, so a reload judges only what is new.
        memo = (accepted[0].key if accepted else None, record.key, tuple(record.headers))
        verdict = _VERDICTS.get(memo)
        if verdict is None:
            approvals = approvals_of(record.headers)
            parent = accepted[1] if accepted else None
            verdict = check(parent, policy, approvals, any_parent=accepted is None)
            _remember(memo, verdict)
        judged.append(Judged(record, policy, verdict))
        accepted = (record, policy) if verdict.approved else accepted
    return judged, choice.none_in_force()


Memo = tuple[bytes | None, bytes | None, Headers]
_VERDICTS: dict[Memo, Verdict] = {}
_REMEMBERED = 1024  # verdicts: far more than the versions a policy topic holds


def _remember(memo: Memo, verdict: Verdict) -> None:
    if len(_VERDICTS) >= _REMEMBERED:
        _VERDICTS.pop(next(iter(_VERDICTS)))  # the oldest first
    _VERDICTS[memo] = verdict


def approved_in_force(
    topic: str,
    records: Sequence[PolicyRecord],
    read: Callable[[bytes | None, bytes], PolicySet],
    approvals_of: Callable[[Headers], tuple[Approval, ...]],
) -> PolicyInForce:
    """The newest set whose approvals chain back to the first set on the topic (`records` oldest
    first); the records refused (malformed or under-approved) and the sets withdrawn after it."""
    judged, everything = judge(topic, records, read, approvals_of)
    accepted = next((j for j in reversed(judged) if j.verdict.approved), None)
    refused = list(everything.refused) + [
        RefusedRecord(topic, j.record.offset, j.record.key, j.verdict.refusal())
        for j in judged
        if not j.verdict.approved
    ]
    after = accepted.record.offset if accepted else -1  # what was met on the way to it
    return PolicyInForce(
        accepted.policy if accepted else None,
        accepted.record.offset if accepted else None,
        tuple(sorted((r for r in refused if r.offset > after), key=lambda r: -r.offset)),
        tuple(w for w in everything.withdrawn if w.offset > after),
    )
