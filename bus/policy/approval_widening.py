"""What a change of policy set releases more of, per consumer × event type: the cases the data
owner's consent and the DPO are asked for (approval_needs.py).

Directly, a grant that is new or widened (more fields, a longer validity, a wider territorial rule,
persons under a disclosure block); only a pure narrowing releases nothing more. Indirectly, what a
grant releases also depends on its purpose (the data classes it allows, its competence, disclosure
blocks), on the consumer's jurisdiction and competences, and on the territories: a change to any of
these counts as widening every grant it touches. That over-asks for a narrowing there, and never
under-asks.
"""

from dataclasses import dataclass, replace

from bus.policy.diff import AccessChange, DocumentChange, diff
from bus.policy.documents import GrantsFile
from bus.policy.loader import PolicySet


@dataclass(frozen=True)
class Release:
    """`consumer` may receive more of `event_type` (`fields`: what its grants name after)."""

    consumer: str
    event_type: str
    fields: frozenset[str]


def releases_more(old: PolicySet | None, new: PolicySet) -> list[Release]:
    """The consumer × event type pairs that may receive more after replacing `old` (None: nothing
    in force, so every grant is new) by `new`, sorted."""
    before = old or replace(new, grants=GrantsFile(grants=()))
    changes = diff(before, new)
    pairs = {
        (c.consumer, c.event_type) for c in changes if isinstance(c, AccessChange) and _widens(c)
    }
    documents = [c for c in changes if isinstance(c, DocumentChange) and c.kind != "removed"]
    purposes = _changed(documents, "purposes.yaml")
    agencies = _changed(documents, "agencies.yaml")
    territories = any(c.file == "territories.yaml" for c in documents)
    fields: dict[tuple[str, str], set[str]] = {}
    for grant in new.grants.grants:
        touched = territories or grant.purpose in purposes or grant.consumer in agencies
        for event_type in grant.event_types:
            fields.setdefault((grant.consumer, event_type), set()).update(grant.fields)
            if touched:
                pairs.add((grant.consumer, event_type))
    return [Release(c, t, frozenset(fields.get((c, t), ()))) for c, t in sorted(pairs)]


# The attributes that decide what a grant releases (bus/policy/engine.py); a changed description,
# legal basis citation or broker principal releases nothing more.
_RELEASING = {
    "purposes.yaml": {"data_classes", "allows_disclosure_blocked", "competence"},
    "agencies.yaml": {"jurisdiction", "competences"},
}


def _changed(documents: list[DocumentChange], file: str) -> set[str]:
    return {c.key for c in documents if c.file == file and _RELEASING[file] & set(c.attributes)}


def _widens(change: AccessChange) -> bool:
    if change.after is None:
        return False
    if change.before is None or change.gained:
        return True
    b, a = change.before, change.after
    if b.requires_interest and not a.requires_interest:
        return True  # from the people it has a case about to everyone
    return (a.rule, a.validity, a.include_disclosure_blocked) != (
        b.rule,
        b.validity,
        b.include_disclosure_blocked,
    )
