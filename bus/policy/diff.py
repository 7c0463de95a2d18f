"""What changes between two policy sets: who gains or loses which fields, and everything else.

Reviewers approve a change to the YAML, not the YAML itself; this says in their terms what the
change does. Grants are compared per consumer × event type × purpose, matched by grant id (a lone
renamed grant on both sides is matched too), so a widened field list reads as "gains X", not as a
removed and an added grant.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bus.policy.documents import Grant, TerritorialRule
from bus.policy.loader import PolicySet

Key = tuple[str, str, str]  # consumer, event type, purpose


@dataclass(frozen=True)
class Terms:
    """What one grant gives one consumer for one event type."""

    grant_id: str
    fields: frozenset[str]
    rule: TerritorialRule
    valid_from: datetime
    valid_until: datetime | None
    include_disclosure_blocked: bool
    requires_interest: bool = False

    @property
    def validity(self) -> str:
        """`from .. until` in ISO form (`open-ended` without an end)."""
        until = _iso(self.valid_until) if self.valid_until else "open-ended"
        return f"{_iso(self.valid_from)} .. {until}"


@dataclass(frozen=True)
class AccessChange:
    """A consumer's access to one event type for one purpose changed (before/after None: none)."""

    consumer: str
    event_type: str
    purpose: str
    before: Terms | None
    after: Terms | None

    @property
    def gained(self) -> tuple[str, ...]:
        """Fields released after the change and not before, sorted."""
        return tuple(sorted(_fields(self.after) - _fields(self.before)))

    @property
    def lost(self) -> tuple[str, ...]:
        """Fields released before the change and no longer, sorted."""
        return tuple(sorted(_fields(self.before) - _fields(self.after)))

    def describe(self) -> str:
        """One line for a reviewer: who, what, for which purpose, and what changes."""
        b, a = self.before, self.after
        if a and b:
            grant = a.grant_id if a.grant_id == b.grant_id else f"{b.grant_id} -> {a.grant_id}"
        else:
            grant = f"{a.grant_id}, new grant" if a else f"{b.grant_id if b else ''}, grant removed"
        parts = []
        if self.gained:
            parts.append(f"gains {', '.join(self.gained)}")
        if self.lost:
            parts.append(f"loses {', '.join(self.lost)}")
        if a and (b is None or a.rule is not b.rule):
            parts.append(f"rule {b.rule.value + ' -> ' if b else ''}{a.rule.value}")
        if a and (b is None or a.validity != b.validity):
            parts.append(f"valid {b.validity + ' -> ' if b else ''}{a.validity}")
        if a and b and a.include_disclosure_blocked != b.include_disclosure_blocked:
            change = "now includes" if a.include_disclosure_blocked else "no longer includes"
            parts.append(f"{change} persons under a disclosure block")
        if a and b and a.requires_interest != b.requires_interest:
            change = "now only" if a.requires_interest else "no longer only"
            parts.append(f"{change} for persons it registered an interest in")
        return f"{self.consumer} × {self.event_type} × {self.purpose} ({grant}): {'; '.join(parts)}"

    def to_json(self) -> dict[str, Any]:
        """The change as JSON data (`bus policy diff --json`), with its `describe` line."""
        return {
            "kind": "access",
            "consumer": self.consumer,
            "event_type": self.event_type,
            "purpose": self.purpose,
            "gained_fields": list(self.gained),
            "lost_fields": list(self.lost),
            "before": _terms_json(self.before),
            "after": _terms_json(self.after),
            "description": self.describe(),
        }


@dataclass(frozen=True)
class DocumentChange:
    """An entry of a file was added, removed or changed (for a grant, its id; else its key)."""

    file: str
    key: str
    kind: Literal["added", "removed", "changed"]
    attributes: tuple[str, ...] = ()  # the attributes that changed

    def describe(self) -> str:
        """One line: the file, the entry's key, what happened and to which attributes."""
        what = f" ({', '.join(self.attributes)})" if self.attributes else ""
        return f"{self.file}: {self.key} {self.kind}{what}"

    def to_json(self) -> dict[str, Any]:
        """The change as JSON data (`bus policy diff --json`), with its `describe` line."""
        return {
            "kind": "document",
            "change": self.kind,
            "file": self.file,
            "key": self.key,
            "attributes": list(self.attributes),
            "description": self.describe(),
        }


Change = AccessChange | DocumentChange


def diff(old: PolicySet, new: PolicySet) -> list[Change]:
    """Document changes (grants first), then access changes, each sorted by key."""
    documents = [
        *_documents("grants.yaml", old.grants.grants, new.grants.grants, "id"),
        *_documents("agencies.yaml", old.agencies.agencies, new.agencies.agencies, "id"),
        *_documents("purposes.yaml", old.purposes.purposes, new.purposes.purposes, "code"),
        *_documents(
            "territories.yaml", old.territories.territories, new.territories.territories, "code"
        ),
        *_documents("producers.yaml", old.producers.producers, new.producers.producers, "agency"),
    ]
    before, after = _access(old), _access(new)
    changes: list[Change] = list(documents)
    for key in sorted(before.keys() | after.keys()):
        changes.extend(_pair(key, before.get(key, {}), after.get(key, {})))
    return changes


def _access(policy_set: PolicySet) -> dict[Key, dict[str, Terms]]:
    access: dict[Key, dict[str, Terms]] = defaultdict(dict)
    for grant in policy_set.grants.grants:
        for event_type in grant.event_types:
            access[(grant.consumer, event_type, grant.purpose)][grant.id] = _terms(grant)
    return access


def _pair(key: Key, before: dict[str, Terms], after: dict[str, Terms]) -> list[AccessChange]:
    pairs: list[tuple[Terms | None, Terms | None]] = [
        (before[i], after[i]) for i in sorted(before.keys() & after.keys())
    ]
    gone = [before[i] for i in sorted(before.keys() - after.keys())]
    came = [after[i] for i in sorted(after.keys() - before.keys())]
    if len(gone) == 1 and len(came) == 1:
        pairs.append((gone[0], came[0]))  # a renamed grant: report what it changes
    else:
        pairs.extend((terms, None) for terms in gone)
        pairs.extend((None, terms) for terms in came)
    return [AccessChange(*key, b, a) for b, a in pairs if b != a]


def _documents(
    file: str, old: Sequence[Any], new: Sequence[Any], attribute: str
) -> list[DocumentChange]:
    # Producer authorities have no id of their own: key them by agency and territory.
    def key(item: Any) -> str:
        name = str(getattr(item, attribute))
        return f"{name}@{item.territory}" if file == "producers.yaml" else name

    before = {key(item): _normalised(item.model_dump()) for item in old}
    after = {key(item): _normalised(item.model_dump()) for item in new}
    changes = [DocumentChange(file, k, "removed") for k in sorted(before.keys() - after.keys())]
    changes += [DocumentChange(file, k, "added") for k in sorted(after.keys() - before.keys())]
    for k in sorted(before.keys() & after.keys()):
        changed = tuple(name for name in after[k] if before[k][name] != after[k][name])
        if changed:
            changes.append(DocumentChange(file, k, "changed", changed))
    return changes


def _normalised(row: dict[str, Any]) -> dict[str, Any]:
    # Lists of names are sets in meaning (as for the snapshot hash): reordering is no change.
    return {k: sorted(v) if isinstance(v, tuple | list) else v for k, v in row.items()}


def _terms(grant: Grant) -> Terms:
    return Terms(
        grant.id,
        frozenset(grant.fields),
        grant.territorial_rule,
        grant.valid_from,
        grant.valid_until,
        grant.include_disclosure_blocked,
        grant.requires_interest,
    )


def _fields(terms: Terms | None) -> frozenset[str]:
    return terms.fields if terms else frozenset()


def _terms_json(terms: Terms | None) -> dict[str, Any] | None:
    if terms is None:
        return None
    return {
        "grant_id": terms.grant_id,
        "fields": sorted(terms.fields),
        "territorial_rule": terms.rule.value,
        "valid_from": _iso(terms.valid_from),
        "valid_until": _iso(terms.valid_until) if terms.valid_until else None,
        "include_disclosure_blocked": terms.include_disclosure_blocked,
        "requires_interest": terms.requires_interest,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
