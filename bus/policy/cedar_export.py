"""Export a policy set to Cedar: policy text, entities (JSON) and a schema.

Cedar (cedarpy) is an engine nobody here wrote; the differential test asks it and our engine the
same questions and demands the same answers, so a misreading of the policy set on either side shows.
The export works from the documents, not from the compiled snapshot, so that it checks the compiler
too. Auditors can also read a grant as a Cedar `permit`.

The mapping: one `permit` per (grant, event type). The consumer is the principal (an `Agency`), the
event the resource (an `Event` whose parent is its `EventType` and whose location attributes point at
`Territory` entities), the purpose and the time (`now`, Long epoch seconds) travel in the context.
Times: `now` is floor(at) and grant bounds are ceil(bound), which agrees with the engine's float
comparison exactly when `at` or the bounds are whole seconds (policy files and the enforcer's
clock in whole seconds; both fractional can differ by the fraction).
"""

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from bus.catalog import CATALOG, Catalog
from bus.policy.documents import Grant, TerritorialRule
from bus.policy.errors import PolicyError
from bus.policy.facts import EventFacts, Subscription
from bus.policy.loader import PolicySet

CedarEntity = dict[str, Any]
CedarUid = dict[str, str]
ACTION: CedarUid = {"type": "Action", "id": "receive"}


@dataclass(frozen=True)
class CedarExport:
    """A policy set in Cedar's terms, as `export_cedar` makes it."""

    policies: str  # Cedar policy text
    entities: list[CedarEntity]  # Cedar JSON entities: territories, agencies, purposes, event types
    schema: str  # Cedar schema text; the policies validate against it


class CedarRequest(NamedTuple):
    """One decision request in Cedar's terms: the consumer, `receive`, the event and the context
    (purpose, `now`), with the event's own entity."""

    principal: CedarUid
    action: CedarUid
    resource: CedarUid
    context: dict[str, Any]
    entities: list[CedarEntity]  # the event itself, to add to the export's entities

    def as_dict(self) -> dict[str, Any]:
        """The request as cedarpy's `is_authorized` takes it."""
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "context": self.context,
        }


def export_cedar(snapshot_source: PolicySet, catalog: Catalog = CATALOG) -> CedarExport:
    """The policy set as Cedar. References must resolve, as for `compile_snapshot`."""
    territories = {t.code: t for t in snapshot_source.territories.territories}
    agencies = {a.id for a in snapshot_source.agencies.agencies}
    purposes = {p.code for p in snapshot_source.purposes.purposes}
    for code in territories:
        _check_ancestry(code, territories)
    for grant in snapshot_source.grants.grants:
        _require(grant.consumer in agencies, f"grant {grant.id}: unknown consumer {grant.consumer}")
        _require(grant.purpose in purposes, f"grant {grant.id}: unknown purpose {grant.purpose}")
    policies = "\n".join(
        _policy(grant, event_type)
        for grant in sorted(snapshot_source.grants.grants, key=lambda g: g.id)
        for event_type in dict.fromkeys(grant.event_types)  # a repeated type grants nothing more
    )
    entities = _entities(snapshot_source, catalog)
    return CedarExport(policies=policies, entities=entities, schema=_schema(catalog))


def _entities(source: PolicySet, catalog: Catalog) -> list[CedarEntity]:
    # Keyed like compile_snapshot's indexes: of two entries with one key, the later counts.
    territories = {t.code: t for t in source.territories.territories}.values()
    agencies = {a.id: a for a in source.agencies.agencies}.values()
    purposes = {p.code: p for p in source.purposes.purposes}.values()
    entities = [
        _entity(
            "Territory",
            t.code,
            {"level": t.level.value, "is_root": t.parent is None},
            [_uid("Territory", t.parent)] if t.parent is not None else [],
        )
        for t in territories
    ]
    entities += [
        _entity(
            "Agency",
            a.id,
            {
                "level": a.level.value,
                "competences": sorted(set(a.competences)),
                "jurisdiction": {"__entity": _uid("Territory", a.jurisdiction)},
            },
        )
        for a in agencies
    ]
    entities += [
        _entity(
            "Purpose",
            p.code,
            {
                "competence": p.competence,
                "allows_disclosure_blocked": p.allows_disclosure_blocked,
            },
        )
        for p in purposes
    ]
    event_types = set(catalog.event_types())
    event_types.update(t for g in source.grants.grants for t in g.event_types)
    return entities + [_entity("EventType", name, {}) for name in sorted(event_types)]


def cedar_request(
    facts: EventFacts, subscription: Subscription, at: float, *, has_interest: bool = False
) -> CedarRequest:
    """One of our decision requests as a Cedar request. Like `decide`, the event type is the
    event's own; the subscription contributes the consumer and the purpose, the interest marker
    store whether the consumer holds a marker on the person (`has_interest`)."""
    locations = {name: code for name, code in sorted(facts.locations.items()) if code is not None}
    attrs: dict[str, Any] = {"disclosure_blocked": facts.disclosure_blocked}
    attrs.update({name: {"__entity": _uid("Territory", code)} for name, code in locations.items()})
    # Equal facts give the same event entity, so a batch can share one entity store.
    digest = hashlib.sha256(
        json.dumps([facts.event_type, attrs], sort_keys=True).encode()
    ).hexdigest()[:20]
    event = _entity(
        "Event", f"{facts.event_type}#{digest}", attrs, [_uid("EventType", facts.event_type)]
    )
    return CedarRequest(
        principal=_uid("Agency", subscription.consumer),
        action=ACTION,
        resource=event["uid"],
        context={
            "purpose": {"__entity": _uid("Purpose", subscription.purpose)},
            "now": math.floor(at),
            "has_interest": has_interest,
        },
        entities=[event],
    )


def merged_entities(export: CedarExport, requests: Iterable[CedarRequest]) -> list[CedarEntity]:
    """The export's entities plus every request's event, each once (for a batch call)."""
    merged = {json.dumps(e["uid"], sort_keys=True): e for e in export.entities}
    for request in requests:
        for entity in request.entities:
            merged.setdefault(json.dumps(entity["uid"], sort_keys=True), entity)
    return list(merged.values())


def write_export(export: CedarExport, directory: Path) -> list[Path]:
    """Write policies.cedar, entities.json and schema.cedarschema into `directory` (what
    `bus policy export --cedar DIR` writes); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "policies.cedar": export.policies,
        "entities.json": json.dumps(export.entities, indent=2, ensure_ascii=False) + "\n",
        "schema.cedarschema": export.schema,
    }
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return [directory / name for name in files]


def _policy(grant: Grant, event_type: str) -> str:
    conditions = [
        f"context.purpose == Purpose::{_str(grant.purpose)}",
        "principal.competences.contains(context.purpose.competence)",
        f"context.now >= {_seconds(grant.valid_from)}",
    ]
    if grant.valid_until is not None:
        conditions.append(f"context.now < {_seconds(grant.valid_until)}")
    conditions.append(_territorial(grant.territorial_rule))
    blocked_ok = " || context.purpose.allows_disclosure_blocked"
    conditions.append(
        f"(!resource.disclosure_blocked{blocked_ok if grant.include_disclosure_blocked else ''})"
    )
    if grant.requires_interest:
        conditions.append("context.has_interest")
    body = " &&\n    ".join(conditions)
    return (
        f"@id({_str(f'{grant.id}/{event_type}')})\n"
        f"permit (\n  principal == Agency::{_str(grant.consumer)},\n"
        f'  action == Action::"receive",\n  resource in EventType::{_str(event_type)}\n)\n'
        f"when {{\n    {body}\n}};\n"
    )


def _territorial(rule: TerritorialRule) -> str:
    # `has is_root` is false for a code that is no Territory entity: an unknown code never lies
    # in a jurisdiction, not even in an (equally unknown) jurisdiction of the same code.
    if rule is TerritorialRule.NATIONWIDE:
        return "(principal.jurisdiction has is_root && principal.jurisdiction.is_root)"
    checks = [
        f"(resource has {name} && resource.{name} has is_root && "
        f"resource.{name} in principal.jurisdiction)"
        for name in rule.locations
    ]
    return f"({' || '.join(checks)})"


def _schema(catalog: Catalog) -> str:
    names = sorted({name for event in catalog for name in event.locations})
    locations = "".join(f", {name}?: Territory" for name in names)
    return (
        "entity Territory in [Territory] { level: String, is_root: Bool };\n"
        "entity Agency { level: String, jurisdiction: Territory, competences: Set<String> };\n"
        "entity Purpose { competence: String, allows_disclosure_blocked: Bool };\n"
        "entity EventType;\n"
        f"entity Event in [EventType] {{ disclosure_blocked: Bool{locations} }};\n"
        "action receive appliesTo {\n  principal: Agency,\n  resource: Event,\n"
        "  context: { purpose: Purpose, now: Long, has_interest: Bool }\n};\n"
    )


def _seconds(moment: datetime) -> int:
    # The engine permits at >= valid_from: for whole-second `at` that is at >= ceil(valid_from).
    return math.ceil(moment.timestamp())


def _str(text: str) -> str:
    """A Cedar string literal; Cedar escapes other characters as \\u{hex}, not JSON's \\uXXXX."""
    escaped = "".join(
        "\\" + c if c in '"\\' else c if c.isprintable() and c.isascii() else f"\\u{{{ord(c):x}}}"
        for c in text
    )
    return f'"{escaped}"'


def _uid(kind: str, id: str) -> CedarUid:
    return {"type": kind, "id": id}


def _entity(
    kind: str, id: str, attrs: dict[str, Any], parents: list[CedarUid] | None = None
) -> CedarEntity:
    return {"uid": _uid(kind, id), "attrs": attrs, "parents": parents or []}


def _check_ancestry(code: str, territories: dict[str, Any]) -> None:
    chain = [code]
    while (parent := territories[chain[-1]].parent) is not None:
        _require(parent in territories, f"territory {chain[-1]}: unknown parent {parent}")
        _require(parent not in chain, f"territory {code}: its parents form a cycle")
        chain.append(parent)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PolicyError(f"{message}; run `bus policy check` for the full report")
