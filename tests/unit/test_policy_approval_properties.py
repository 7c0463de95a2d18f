"""Properties of approvals: a change cannot lower the bar for itself. Whatever the new set's rules
and approvers say, it is approved only with the approvals the rules in force require — in
particular, a set's approval rule can only be weakened with the approvals the old rule requires."""

from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bus.policy.approval_check import check
from bus.policy.approval_documents import ApprovalRules, ApprovalsFile, Approver, Quorum
from bus.policy.approval_needs import needs
from bus.policy.approval_signatures import sign
from bus.policy.loader import PolicySet
from bus.policy.snapshot import content_hash
from tests.support.approvals import module_approvers
from tests.support.policy_sets import agency, grant, policy_set, purpose

POOL = ("p1", "p2", "p3", "p4", "p5")
KEYS = module_approvers()
PEMS = {i: KEYS.key(i).public_pem().decode() for i in POOL}
BASE = policy_set(
    agencies=(agency("tax-by", "09", "taxation"),),
    purposes=(purpose("tax-residence", "taxation"),),
    grants=(grant("g1", "tax-by", "tax-residence"),),
)
ROLES = st.sets(st.sampled_from(["governance-board", "dpo"]))


@st.composite
def approvals_files(draw: st.DrawFn) -> ApprovalsFile:
    """Any approvers of the pool, with any roles, and any rules."""
    members = draw(st.lists(st.sampled_from(POOL), unique=True))
    approvers = tuple(
        Approver(id=i, name=i, roles=tuple(sorted(draw(ROLES))), public_key=PEMS[i])
        for i in members
    )
    quorum = st.none() | st.builds(
        Quorum, role=st.sampled_from(["governance-board", "dpo"]), min=st.integers(1, 5)
    )
    rules = ApprovalRules(
        every_change=draw(quorum),
        producer_consent=draw(st.booleans()),
        personal_to_new_consumer=draw(quorum),
    )
    return ApprovalsFile(approvers=approvers, rules=rules)


@st.composite
def changes(draw: st.DrawFn) -> tuple[PolicySet, PolicySet]:
    """A set in force with approval rules, and a different set (other rules, other grants)."""
    old = replace(BASE, approvals=draw(approvals_files()))
    grants = BASE.grants.grants
    if draw(st.booleans()):  # also change what is released
        grants = (grant("g1", "tax-by", "tax-residence", fields=("subject_id",)),)
    new = replace(
        BASE,
        approvals=draw(approvals_files()),
        grants=BASE.grants.model_copy(update={"grants": grants}),
    )
    return old, new


def _holders(policy: PolicySet, role: str) -> set[str]:
    approvers = policy.approvals.approvers if policy.approvals else ()
    return {a.id for a in approvers if role in a.roles}


@settings(deadline=None, max_examples=150)
@given(changes(), st.sets(st.sampled_from(POOL)), st.sets(st.sampled_from(POOL)))
def test_the_old_rule_decides_even_when_the_new_set_weakens_it(
    change: tuple[PolicySet, PolicySet], signers: set[str], off_parent: set[str]
) -> None:
    old, new = change
    parent, snapshot = content_hash(old), content_hash(new)
    approvals = [sign(KEYS.key(i), snapshot, parent) for i in sorted(signers)]
    # Approvals of the same set from another parent (a replay) must never help.
    approvals += [sign(KEYS.key(i), snapshot, "sha256:" + "1" * 64) for i in sorted(off_parent)]
    verdict = check(old, new, approvals)
    rule = old.approvals.rules.every_change if old.approvals else None
    if verdict.approved and snapshot != parent and rule is not None:
        assert len(signers & _holders(old, rule.role)) >= rule.min
    assert set(verdict.valid) <= signers & {a.id for a in old.approvals.approvers}  # type: ignore[union-attr]


@settings(deadline=None, max_examples=100)
@given(changes(), approvals_files())
def test_the_new_sets_own_rules_have_no_say_in_its_approval(
    change: tuple[PolicySet, PolicySet], other: ApprovalsFile
) -> None:
    old, new = change
    rewritten = replace(new, approvals=other)
    assume(content_hash(old) not in {content_hash(new), content_hash(rewritten)})
    assert needs(old, new).requirements == needs(old, rewritten).requirements


def test_the_property_sees_approved_weakenings() -> None:
    # Not vacuous: a weakening approved by the old quorum passes, one short of it does not.
    board = tuple(
        Approver(id=i, name=i, roles=("governance-board",), public_key=PEMS[i]) for i in POOL[:3]
    )
    strict = ApprovalRules(every_change=Quorum(role="governance-board", min=3))
    lax = ApprovalRules(every_change=Quorum(role="governance-board", min=1))
    old = replace(BASE, approvals=ApprovalsFile(approvers=board, rules=strict))
    new = replace(BASE, approvals=ApprovalsFile(approvers=board, rules=lax))
    parent, snapshot = content_hash(old), content_hash(new)
    assert check(old, new, [sign(KEYS.key(i), snapshot, parent) for i in POOL[:3]]).approved
    assert not check(old, new, [sign(KEYS.key(i), snapshot, parent) for i in POOL[:2]]).approved
