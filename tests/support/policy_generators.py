"""Random policy sets and decision requests, reproducible from a seed.

The differential test, the property tests and the benchmark draw from here. Requests lean towards
the grants (their consumer, type and purpose, locations inside the consumer's jurisdiction, times
at the validity bounds) so that permits and every reason for a deny both occur often.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bus.catalog import CATALOG, DataClass
from bus.policy.documents import (
    AgenciesFile,
    Agency,
    Grant,
    GrantsFile,
    Level,
    ProducerAuthority,
    ProducersFile,
    Purpose,
    PurposesFile,
    TerritorialRule,
    TerritoriesFile,
    Territory,
)
from bus.policy.facts import EventFacts, Subscription
from bus.policy.loader import PolicySet

T0 = datetime(2026, 6, 1, tzinfo=UTC)  # requests fall within about a year of it
DAY = 86_400
COMPETENCES = ("taxation", "elections", "policing", "social-benefits", "vehicles", "statistics")
EVENT_TYPES = tuple(CATALOG.event_types())
EVENT_FIELDS = {t: CATALOG.latest(t).field_names() for t in EVENT_TYPES}
EVENT_LOCATIONS = {t: tuple(CATALOG.latest(t).locations) for t in EVENT_TYPES}
OUT_OF_TREE = ("ZZ999", "XX")  # codes no territory has
# The locations a rule needs an event to carry, to pick rules that fit a grant's event types.
_RULE_NEEDS: dict[TerritorialRule, tuple[str, ...]] = {
    TerritorialRule.NEW_ADDRESS: ("new_address",),
    TerritorialRule.PREVIOUS_ADDRESS: ("previous_address",),
    TerritorialRule.EITHER_ADDRESS: ("new_address", "previous_address"),
    TerritorialRule.PLACE_OF_REGISTRATION: ("place_of_registration",),
    TerritorialRule.NATIONWIDE: (),
}


@dataclass(frozen=True, slots=True)
class Request:
    facts: EventFacts
    subscription: Subscription
    at: float


def random_territories(rng: random.Random, *, second_nation: bool = False) -> tuple[Territory, ...]:
    """Nation -> 2-3 states -> 1-3 districts -> 1-4 municipalities, with AGS-like codes."""
    out = [Territory(code="DE", name="Nation", level=Level.NATION)]
    for s in rng.sample(range(1, 17), rng.randint(2, 3)):
        state = f"{s:02d}"
        out.append(Territory(code=state, name=state, level=Level.STATE, parent="DE"))
        for d in rng.sample(range(100, 1000), rng.randint(1, 3)):
            district = f"{state}{d}"
            out.append(Territory(code=district, name=district, level=Level.DISTRICT, parent=state))
            for m in rng.sample(range(1000), rng.randint(1, 4)):
                code = f"{district}{m:03d}"
                out.append(
                    Territory(code=code, name=code, level=Level.MUNICIPALITY, parent=district)
                )
    if second_nation:  # a second root: its agencies are nationwide too
        out.append(Territory(code="AT", name="Other nation", level=Level.NATION))
        out.append(Territory(code="AT1", name="AT1", level=Level.STATE, parent="AT"))
    return tuple(out)


def random_agency(rng: random.Random, id: str, territories: tuple[Territory, ...]) -> Agency:
    """The level first, so that nation and state agencies are as common as local ones."""
    level = rng.choice([t.level for t in territories])
    codes = [t.code for t in territories if t.level is level]
    jurisdiction = rng.choice(OUT_OF_TREE) if rng.random() < 0.03 else rng.choice(codes)
    return Agency(
        id=id,
        name=id,
        level=level,
        jurisdiction=jurisdiction,
        competences=tuple(rng.sample(COMPETENCES, rng.randint(1, 3))),
        kafka_principal=f"User:{id}",
    )


def random_purpose(rng: random.Random, code: str) -> Purpose:
    return Purpose(
        code=code,
        description=code,
        legal_basis=f"§ {rng.randint(1, 99)} {code.upper()}G",
        competence=rng.choice(COMPETENCES),
        data_classes=tuple(rng.sample(list(DataClass), rng.randint(1, len(DataClass)))),
        retention_days=rng.randint(1, 3650),
        allows_disclosure_blocked=rng.random() < 0.4,
    )


def random_grant(
    rng: random.Random,
    id: str,
    consumers: tuple[Agency, ...],
    purposes: tuple[Purpose, ...],
    *,
    event_types: tuple[str, ...] = EVENT_TYPES,
    fractional: bool = False,
) -> Grant:
    """Validity from ~2 years before T0 to ~7 months after, open or up to ~2 years long, so
    expired, current and future grants all occur. `fractional`: bounds with microseconds.
    Most grants name a purpose the consumer is competent for, as a reviewed grant would."""
    consumer = rng.choice(consumers)
    fitting = [p for p in purposes if p.competence in consumer.competences]
    purpose = rng.choice(fitting if fitting and rng.random() < 0.8 else purposes)
    types = tuple(rng.sample(event_types, rng.randint(1, min(2, len(event_types)))))
    carried = {name for t in types for name in EVENT_LOCATIONS.get(t, ())}
    rules = [r for r in TerritorialRule if set(_RULE_NEEDS[r]) <= carried and _RULE_NEEDS[r]]
    if consumer.level is Level.NATION or not rules:
        rules.append(TerritorialRule.NATIONWIDE)
    rule = rng.choice(rules if rng.random() < 0.7 else list(TerritorialRule))
    known = sorted({f for t in types for f in EVENT_FIELDS.get(t, ("subject_id",))})
    fields = rng.sample(known, rng.randint(1, len(known)))
    if rng.random() < 0.1:
        fields.append("not_a_field")  # the engine must never release it
    start = T0 + timedelta(seconds=rng.randint(-700 * DAY, 200 * DAY))
    if fractional:
        start += timedelta(microseconds=rng.randint(1, 999_999))
    end = None if rng.random() < 0.3 else start + timedelta(seconds=rng.randint(DAY, 600 * DAY))
    if end is not None and fractional:
        end += timedelta(microseconds=rng.randint(0, 999_999))
    return Grant(
        id=id,
        consumer=consumer.id,
        event_types=types,
        purpose=purpose.code,
        fields=tuple(fields),
        territorial_rule=rule,
        valid_from=start,
        valid_until=end,
        include_disclosure_blocked=rng.random() < 0.4,
        releases_special_category=rng.random() < 0.2,
        requires_interest=rng.random() < 0.25,
        approved_by="DPO",
        approved_at=T0,
    )


def random_policy_set(
    rng: random.Random,
    *,
    agencies: int | None = None,
    purposes: int | None = None,
    grants: int | None = None,
    fractional: bool = False,
) -> PolicySet:
    """A consistent policy set (references resolve): 5-15 agencies, 3-8 purposes, 10-60 grants
    unless told. Agencies sit at any level of the tree, a few outside it."""
    territories = random_territories(rng, second_nation=rng.random() < 0.3)
    agency_docs = tuple(
        random_agency(rng, f"agency-{i}", territories)
        for i in range(agencies or rng.randint(5, 15))
    )
    purpose_docs = tuple(
        random_purpose(rng, f"purpose-{i}") for i in range(purposes or rng.randint(3, 8))
    )
    grant_docs = tuple(
        random_grant(rng, f"grant-{i}", agency_docs, purpose_docs, fractional=fractional)
        for i in range(grants if grants is not None else rng.randint(10, 60))
    )
    producers = (
        ProducerAuthority(agency=agency_docs[0].id, event_types=EVENT_TYPES, territory="DE"),
    )
    return replace_grants(
        PolicySet(
            directory=Path("."),
            territories=TerritoriesFile(territories=territories),
            agencies=AgenciesFile(agencies=agency_docs),
            purposes=PurposesFile(purposes=purpose_docs),
            producers=ProducersFile(producers=producers),
            grants=GrantsFile(grants=()),
        ),
        grant_docs,
    )


def replace_grants(policy_set: PolicySet, grants: tuple[Grant, ...]) -> PolicySet:
    return PolicySet(
        policy_set.directory,
        policy_set.territories,
        policy_set.agencies,
        policy_set.purposes,
        policy_set.producers,
        GrantsFile(grants=grants),
    )


def descendants(policy_set: PolicySet, code: str) -> list[str]:
    """`code` and every territory below it (computed here, not by the snapshot under test)."""
    children: dict[str | None, list[str]] = {}
    for t in policy_set.territories.territories:
        children.setdefault(t.parent, []).append(t.code)
    known = {t.code for t in policy_set.territories.territories}
    found, stack = [], [code] if code in known else []
    while stack:
        found.append(current := stack.pop())
        stack.extend(children.get(current, ()))
    return found


def random_requests(
    rng: random.Random, policy_set: PolicySet, count: int, *, fractional: bool = False
) -> list[Request]:
    """`fractional`: times with a fraction of a second (use only with whole-second grant bounds)."""
    return [random_request(rng, policy_set, fractional=fractional) for _ in range(count)]


def random_request(
    rng: random.Random, policy_set: PolicySet, *, fractional: bool = False
) -> Request:
    agencies = {a.id: a for a in policy_set.agencies.agencies}
    purposes = [p.code for p in policy_set.purposes.purposes]
    grants = policy_set.grants.grants
    grant = rng.choice(grants) if grants and rng.random() < 0.7 else None
    if grant is not None:  # a request a grant is about, perhaps with a different purpose
        consumer, event_type = grant.consumer, rng.choice(grant.event_types)
        purpose = grant.purpose if rng.random() < 0.85 else rng.choice(purposes)
    else:
        consumer = rng.choice(list(agencies)) if rng.random() < 0.95 else "unknown-agency"
        event_type = rng.choice(EVENT_TYPES) if rng.random() < 0.97 else "unknown.Event"
        purpose = rng.choice(purposes) if rng.random() < 0.95 else "unknown-purpose"
    agency = agencies.get(consumer)
    # For a jurisdiction outside the tree, its own code: the engine must not count it as inside.
    inside = (
        (descendants(policy_set, agency.jurisdiction) or [agency.jurisdiction]) if agency else []
    )
    codes = [t.code for t in policy_set.territories.territories]

    def location() -> str | None:
        roll = rng.random()
        if roll < 0.6 and inside:
            return rng.choice(inside)
        if roll < 0.85:
            return rng.choice(codes)
        return None if roll < 0.95 else rng.choice(OUT_OF_TREE)

    names = EVENT_LOCATIONS.get(event_type, ("new_address",))
    all_fields = EVENT_FIELDS.get(event_type, ("subject_id", "not_a_field"))
    fields = (
        all_fields
        if rng.random() < 0.7
        else rng.sample(all_fields, rng.randint(1, min(3, len(all_fields))))
    )
    facts = EventFacts(
        event_type=event_type,
        producer=rng.choice(list(agencies) or ["producer"]),
        fields=frozenset(fields),
        locations={name: location() for name in names},
        disclosure_blocked=rng.random() < 0.25,
    )
    return Request(
        facts, Subscription(consumer, event_type, purpose), _time(rng, grant, fractional)
    )


def _time(rng: random.Random, grant: Grant | None, fractional: bool) -> float:
    at = float(int(T0.timestamp()) + rng.randint(-400 * DAY, 400 * DAY))
    if grant is not None and rng.random() < 0.3:  # on a validity bound, or a second off it
        bound = rng.choice([grant.valid_from, grant.valid_until or grant.valid_from])
        at = float(int(bound.timestamp()) + rng.choice((-1, 0, 1, 2)))
    return at + rng.random() if fractional and rng.random() < 0.5 else at
