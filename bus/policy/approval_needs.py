"""Which approvals a change of policy set needs: computed from the set in force and the new set,
under the rules and approvers of the set in force, so that a change cannot lower the bar for itself.

For the very first set nothing is in force: its own rules apply (trust on first use; whoever
bootstraps the bus decides the first rules, and the first set shows who approved them).
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from bus.catalog import CATALOG, Catalog, CatalogError, DataClass
from bus.policy.approval_documents import ApprovalRules, Approver
from bus.policy.approval_widening import Release, releases_more
from bus.policy.loader import PolicySet
from bus.policy.snapshot import content_hash

# Fields of these classes are personal data (GDPR Art. 4(1), Art. 9).
PERSONAL_CLASSES = frozenset({DataClass.PERSONAL, DataClass.SPECIAL_CATEGORY})


@dataclass(frozen=True)
class Requirement:
    """At least `count` distinct approvers holding role `name` (kind "role") or speaking for
    agency `name` (kind "agency"), for the `reasons` given."""

    kind: Literal["role", "agency"]
    name: str
    count: int
    reasons: tuple[str, ...]

    def describe(self) -> str:
        """One line: who must approve, and why."""
        who = f"role {self.name}" if self.kind == "role" else f"data owner {self.name}"
        return f"{self.count} × {who}: {'; '.join(self.reasons)}"

    def holders(self, approvers: tuple[Approver, ...]) -> frozenset[str]:
        """The ids of the approvers (of those given) who can help meet this requirement."""
        if self.kind == "role":
            return frozenset(a.id for a in approvers if self.name in a.roles)
        return frozenset(a.id for a in approvers if a.agency == self.name)


@dataclass(frozen=True)
class Needs:
    """What a change needs: the requirements, and whose approvers and parent hash count."""

    parent: str | None  # the hash of the set in force the change replaces (None: the first set)
    snapshot: str  # the hash of the new set
    approvers: tuple[Approver, ...]  # of the governing set: only their approvals count
    requirements: tuple[Requirement, ...]


def governing(old: PolicySet | None, new: PolicySet) -> PolicySet:
    """The set whose rules and approvers judge the change: the one in force, else the new one."""
    return new if old is None else old


def needs(old: PolicySet | None, new: PolicySet, catalog: Catalog = CATALOG) -> Needs:
    """The approvals replacing `old` (None: nothing in force) by `new` needs."""
    rules_set = governing(old, new)
    approvals = rules_set.approvals
    snapshot, parent = content_hash(new), (None if old is None else content_hash(old))
    if approvals is None or snapshot == parent:
        return Needs(parent, snapshot, () if approvals is None else approvals.approvers, ())
    return Needs(
        parent, snapshot, approvals.approvers, _requirements(approvals.rules, old, new, catalog)
    )


def _requirements(
    rules: ApprovalRules, old: PolicySet | None, new: PolicySet, catalog: Catalog
) -> tuple[Requirement, ...]:
    found: list[Requirement] = []
    if rules.every_change is not None:
        found.append(
            Requirement("role", rules.every_change.role, rules.every_change.min, ("every change",))
        )
    widened = releases_more(old, new)
    if rules.producer_consent:
        producers = _producers(old, new)
        released: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for release in widened:
            for agency in producers.get(release.event_type, ()):
                released[agency][release.event_type].add(release.consumer)
        for agency, types in sorted(released.items()):
            reasons = tuple(
                f"releases its {event_type} to {', '.join(sorted(consumers))}"
                for event_type, consumers in sorted(types.items())
            )
            found.append(Requirement("agency", agency, 1, reasons))
    if rules.personal_to_new_consumer is not None:
        quorum = rules.personal_to_new_consumer
        received = _received(old)
        fresh: dict[str, set[str]] = defaultdict(set)  # consumer -> event types new to it
        for release in widened:
            pair = (release.consumer, release.event_type)
            if pair not in received and _personal(release, catalog):
                fresh[release.consumer].add(release.event_type)
        if fresh:
            reasons = tuple(
                f"personal data of {', '.join(sorted(types))} to {consumer}, which received none"
                for consumer, types in sorted(fresh.items())
            )
            found.append(Requirement("role", quorum.role, quorum.min, reasons))
    return _merged(found)


def _merged(requirements: list[Requirement]) -> tuple[Requirement, ...]:
    # Two rules naming one role (say, the DPO also sits on the board): the larger count, all reasons.
    merged: dict[tuple[str, str], Requirement] = {}
    for r in requirements:
        if (before := merged.get((r.kind, r.name))) is not None:
            r = Requirement(r.kind, r.name, max(r.count, before.count), before.reasons + r.reasons)
        merged[(r.kind, r.name)] = r
    return tuple(merged[key] for key in sorted(merged))


def _received(policy_set: PolicySet | None) -> set[tuple[str, str]]:
    grants = policy_set.grants.grants if policy_set is not None else ()
    return {(g.consumer, event_type) for g in grants for event_type in g.event_types}


def _producers(old: PolicySet | None, new: PolicySet) -> dict[str, set[str]]:
    # The data owners before and after: a change of producers.yaml must not dodge a consent.
    producers: dict[str, set[str]] = defaultdict(set)
    for policy_set in (old, new):
        for authority in policy_set.producers.producers if policy_set else ():
            for event_type in authority.event_types:
                producers[event_type].add(authority.agency)
    return producers


def _personal(release: Release, catalog: Catalog) -> tuple[str, ...]:
    released = release.fields
    try:
        classes = catalog.latest(release.event_type).data_classes()
    except CatalogError:  # unknown to the catalogue (the linter says so): count all as personal
        return tuple(sorted(released))
    personal = (f for f in released if classes.get(f, DataClass.PERSONAL) in PERSONAL_CLASSES)
    return tuple(sorted(personal))
