"""Compile a policy set into an immutable snapshot, indexed for the enforcer's per-event path.

One decision looks at the grants for (consumer, event type) only, so its cost does not grow with
grants that concern other consumers or event types. The snapshot's hash is a content hash of the
normalised policy set: file order, list order and formatting do not change it; any content does.
"""

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

import rfc8785

from bus.catalog import CATALOG, Catalog, DataClass
from bus.policy.documents import Agency, Purpose, TerritorialRule
from bus.policy.errors import PolicyError
from bus.policy.loader import PolicySet


@dataclass(frozen=True, slots=True)
class CompiledGrant:
    """One grant for one event type, its validity in epoch seconds."""

    id: str
    consumer: str
    event_type: str
    purpose: str
    fields: tuple[str, ...]
    rule: TerritorialRule
    valid_from: float  # epoch seconds
    valid_until: float | None
    include_disclosure_blocked: bool
    requires_interest: bool = False


@dataclass(frozen=True)
class Snapshot:
    """A compiled policy set: what the engine decides with. `hash` names the policy set (its
    content hash); grants are indexed by (consumer, event type), producer authorities by event
    type."""

    hash: str
    agencies: Mapping[str, Agency]
    purposes: Mapping[str, Purpose]
    # territory code -> the code itself and all its ancestors
    ancestry: Mapping[str, frozenset[str]]
    grants: Mapping[tuple[str, str], tuple[CompiledGrant, ...]]
    authorities: Mapping[str, tuple[tuple[str, str], ...]]  # event type -> (agency, territory)
    field_classes: Mapping[str, Mapping[str, DataClass]]  # event type -> field -> class
    # (consumer, purpose) of every grant that requires an interest marker on the person
    requires_interest: frozenset[tuple[str, str]] = frozenset()

    def within(self, jurisdiction: str, code: str | None) -> bool:
        """Whether territory `code` lies in `jurisdiction` (a jurisdiction covers its descendants)."""
        return code is not None and jurisdiction in self.ancestry.get(code, ())


EMPTY_HASH = "sha256:" + hashlib.sha256(b"{}").hexdigest()


def empty_snapshot() -> Snapshot:
    """Denies everything: what the enforcer holds when no valid policy set is in force."""
    empty: Mapping[Any, Any] = MappingProxyType({})
    return Snapshot(EMPTY_HASH, empty, empty, empty, empty, empty, empty)


def content_hash(policy_set: PolicySet) -> str:
    """sha256 over RFC 8785 canonical JSON of the sorted documents."""
    return "sha256:" + hashlib.sha256(canonical_bytes(policy_set)).hexdigest()


def canonical_bytes(policy_set: PolicySet) -> bytes:
    """The policy set as RFC 8785 JSON: what is hashed, and what `bus policy apply` publishes."""
    return rfc8785.dumps(normalised_document(policy_set))


def normalised_document(policy_set: PolicySet) -> dict[str, Any]:
    """One mapping with the five lists, sorted and normalised, independent of how files were written
    (and the approvals, only if the set has approvals.yaml: a set without it hashes as before)."""

    def rows(items: tuple[Any, ...], key: str) -> list[dict[str, Any]]:
        dumped = [_normalised(item.model_dump()) for item in items]
        # The key first; the whole row breaks ties, so even duplicate ids hash independent of order.
        return sorted(dumped, key=lambda row: (str(row[key]), rfc8785.dumps(row)))

    document: dict[str, Any] = {
        "territories": rows(policy_set.territories.territories, "code"),
        "agencies": rows(policy_set.agencies.agencies, "id"),
        "purposes": rows(policy_set.purposes.purposes, "code"),
        "producers": rows(policy_set.producers.producers, "agency"),
        "grants": rows(policy_set.grants.grants, "id"),
    }
    if policy_set.approvals is not None:
        approvals = policy_set.approvals
        document["approvals"] = {
            "approvers": rows(approvals.approvers, "id"),
            "rules": approvals.rules.model_dump(),
        }
    return document


# Keys added to the documents after sets were applied, with their defaults: hashed only when a
# set departs from the default, so that a set written before the key keeps its hash (the audit
# trail names snapshots by hash, and replays re-hash them).
_ADDED_LATER: dict[str, object] = {"requires_interest": False}


def _normalised(row: dict[str, Any]) -> dict[str, Any]:
    """Same meaning, same bytes: instants in UTC, string lists (sets in meaning) sorted."""
    result: dict[str, Any] = {}
    for name, value in row.items():
        if name in _ADDED_LATER and value == _ADDED_LATER[name]:
            continue
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        result[name] = value
    return result


def compile_snapshot(policy_set: PolicySet, catalog: Catalog = CATALOG) -> Snapshot:
    """Build the indexes. References must resolve (`bus policy check` explains what does not)."""
    territories = {t.code: t for t in policy_set.territories.territories}
    agencies = {a.id: a for a in policy_set.agencies.agencies}
    purposes = {p.code: p for p in policy_set.purposes.purposes}
    ancestry = {code: _ancestors(code, territories) for code in territories}
    grants: dict[tuple[str, str], list[CompiledGrant]] = defaultdict(list)
    ids = [g.id for g in policy_set.grants.grants]
    _require(len(ids) == len(set(ids)), "grant ids must be unique")
    for grant in policy_set.grants.grants:
        _require(grant.consumer in agencies, f"grant {grant.id}: unknown consumer {grant.consumer}")
        _require(grant.purpose in purposes, f"grant {grant.id}: unknown purpose {grant.purpose}")
        for event_type in grant.event_types:
            grants[(grant.consumer, event_type)].append(
                CompiledGrant(
                    id=grant.id,
                    consumer=grant.consumer,
                    event_type=event_type,
                    purpose=grant.purpose,
                    fields=tuple(sorted(grant.fields)),
                    rule=grant.territorial_rule,
                    valid_from=grant.valid_from.timestamp(),
                    valid_until=grant.valid_until.timestamp() if grant.valid_until else None,
                    include_disclosure_blocked=grant.include_disclosure_blocked,
                    requires_interest=grant.requires_interest,
                )
            )
    authorities: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for authority in policy_set.producers.producers:
        for event_type in authority.event_types:
            authorities[event_type].append((authority.agency, authority.territory))
    field_classes = {
        cls.event_type: MappingProxyType(cls.data_classes()) for cls in catalog
    }  # versions of one type share field classes (checked by the catalogue)
    return Snapshot(
        hash=content_hash(policy_set),
        agencies=MappingProxyType(agencies),
        purposes=MappingProxyType(purposes),
        ancestry=MappingProxyType(ancestry),
        grants=MappingProxyType(
            {k: tuple(sorted(v, key=lambda g: g.id)) for k, v in grants.items()}
        ),
        authorities=MappingProxyType({k: tuple(v) for k, v in authorities.items()}),
        field_classes=MappingProxyType(field_classes),
        requires_interest=frozenset(
            (g.consumer, g.purpose) for g in policy_set.grants.grants if g.requires_interest
        ),
    )


def _ancestors(code: str, territories: Mapping[str, Any]) -> frozenset[str]:
    chain = [code]
    while (parent := territories[chain[-1]].parent) is not None:
        _require(parent in territories, f"territory {chain[-1]}: unknown parent {parent}")
        _require(parent not in chain, f"territory {code}: its parents form a cycle")
        chain.append(parent)
    return frozenset(chain)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PolicyError(f"{message}; run `bus policy check` for the full report")
