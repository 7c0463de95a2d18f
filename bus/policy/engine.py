"""The policy engine: pure functions from (snapshot, event facts, subscription, time) to a decision.

Deny by default: a decision is PERMIT only when a grant for exactly this consumer × event type ×
purpose is valid at `at`, the consumer is competent for the purpose, the subject lies in the
consumer's jurisdiction as the grant's territorial rule demands, and a disclosure block (if any)
is covered by both grant and purpose. All failing conditions are reported, not just the first.
Before any of that, `authorize_producer` decides whether the event's producer may report it at all,
and `authorize_subscription` whether a subscription may be registered.
"""

from collections.abc import Collection

from bus.policy.decision import Decision, Outcome, ProducerDecision, Reason
from bus.policy.documents import Purpose, TerritorialRule
from bus.policy.facts import EventFacts, Subscription
from bus.policy.snapshot import CompiledGrant, Snapshot


def decide(
    snapshot: Snapshot,
    facts: EventFacts,
    subscription: Subscription,
    at: float,
    *,
    has_interest: bool = False,
) -> Decision:
    """May `subscription.consumer` receive this event for `subscription.purpose` at time `at`
    (epoch seconds)? On PERMIT, `released_fields` are the only fields it may see.

    `has_interest`: whether the consumer holds an interest marker on the event's subject for the
    purpose; a grant that `requires_interest` permits nothing without one. False by default, so a
    caller that does not know denies rather than releases. Where the grant decided on requires a
    marker and one is held, the reasons end with INTEREST_HELD (a fact, not a failed condition)."""
    consumer, purpose_code = subscription.consumer, subscription.purpose

    agency = snapshot.agencies.get(consumer)
    purpose = snapshot.purposes.get(purpose_code)
    if agency is None:
        return _deny(snapshot, facts, subscription, (Reason.UNKNOWN_CONSUMER,), None)
    if purpose is None:
        return _deny(snapshot, facts, subscription, (Reason.UNKNOWN_PURPOSE,), None)
    candidates = snapshot.grants.get((consumer, facts.event_type), ())
    if not candidates:
        return _deny(snapshot, facts, subscription, (Reason.NO_GRANT,), None)
    matching = [g for g in candidates if g.purpose == purpose_code]
    if not matching:
        return _deny(snapshot, facts, subscription, (Reason.PURPOSE_MISMATCH,), None)
    competent = purpose.competence in agency.competences
    best: tuple[Reason, ...] = ()
    for grant in matching:
        reasons: list[Reason] = []
        if not competent:
            reasons.append(Reason.NOT_COMPETENT)
        if at < grant.valid_from:
            reasons.append(Reason.GRANT_NOT_YET_VALID)
        elif grant.valid_until is not None and at >= grant.valid_until:
            reasons.append(Reason.GRANT_EXPIRED)
        if not _in_jurisdiction(snapshot, agency.jurisdiction, grant.rule, facts):
            reasons.append(Reason.OUT_OF_JURISDICTION)
        if facts.disclosure_blocked and not (
            grant.include_disclosure_blocked and purpose.allows_disclosure_blocked
        ):
            reasons.append(Reason.DISCLOSURE_BLOCKED)
        if grant.requires_interest and not has_interest:
            reasons.append(Reason.NO_INTEREST)
        if not reasons:
            released = released_fields(snapshot, grant, purpose, facts.fields)
            held = (Reason.INTEREST_HELD,) if grant.requires_interest else ()
            return Decision(
                Outcome.PERMIT,
                (Reason.GRANTED, *held),
                consumer,
                facts.event_type,
                purpose_code,
                snapshot.hash,
                grant_id=grant.id,
                released_fields=released,
                legal_basis=purpose.legal_basis,
                producer=facts.producer,
            )
        if not best or len(reasons) < len(best):
            best, best_grant = tuple(reasons), grant
    if best_grant.requires_interest and has_interest:
        best = (*best, Reason.INTEREST_HELD)  # recorded, so a replay decides alike
    return _deny(snapshot, facts, subscription, best, best_grant)


def released_fields(
    snapshot: Snapshot, grant: CompiledGrant, purpose: Purpose, present: Collection[str]
) -> tuple[str, ...]:
    """Field minimisation: of the fields `present` in an event, those `grant` names and whose data
    class `purpose` allows. What a PERMIT releases, and what a consumer's contract describes."""
    classes = snapshot.field_classes.get(grant.event_type, {})
    allowed = purpose.data_classes
    return tuple(f for f in grant.fields if f in present and classes.get(f) in allowed)


def still_open(grant: CompiledGrant, at: float) -> bool:
    """Whether `grant` is valid at `at` or becomes valid later: one a subscription may name."""
    return grant.valid_until is None or at < grant.valid_until


def _deny(
    snapshot: Snapshot,
    facts: EventFacts,
    subscription: Subscription,
    reasons: tuple[Reason, ...],
    grant: CompiledGrant | None,
) -> Decision:
    return Decision(
        Outcome.DENY,
        reasons,
        subscription.consumer,
        facts.event_type,
        subscription.purpose,
        snapshot.hash,
        grant_id=grant.id if grant else None,
        producer=facts.producer,
    )


def authorize_producer(snapshot: Snapshot, facts: EventFacts) -> ProducerDecision:
    """Is `facts.producer` the authentic source of this event? The enforcer quarantines it if not.

    The registration law's rule, location by location (policies/reference/README.md, "Who reports
    an event"): the producer must be the source for the municipality of the location whose
    register reports the event (`facts.reporting`; an event without one is reported by a
    nationwide source), and the event may place no other location in the bus's territory except
    those that register records from the person's own declaration.
    """
    producer, event_type, reporting = facts.producer, facts.event_type, facts.reporting
    where = reporting.location
    territory = None if where is None else facts.locations.get(where)
    if where is not None and territory is None:
        refusal = f"the event names no municipality for {where}, whose register must report it"
        return _not_the_source(snapshot, facts, None, refusal)
    if not _is_source(snapshot, producer, event_type, territory):
        return _not_the_source(snapshot, facts, territory)
    for name, code in facts.locations.items():
        if name == where or name in reporting.declared or code is None:
            continue
        if code in snapshot.ancestry:  # a territory of the bus: grants could route on it
            refusal = (
                f"{producer} reports {event_type} for {where}, but the event also places {name} "
                f"in {code}, which is not that register's to report"
            )
            return _not_the_source(snapshot, facts, territory, refusal)
    return ProducerDecision(
        Outcome.PERMIT,
        (Reason.AUTHORITATIVE_SOURCE,),
        producer,
        event_type,
        territory,
        snapshot.hash,
    )


def authorize_subscription(
    snapshot: Snapshot, consumer: str, event_type: str, purpose: str, at: float
) -> Decision:
    """May this subscription be registered at all? Needs a competent consumer and a grant for
    exactly consumer × event type × purpose that is valid at `at` or becomes valid later; location
    and disclosure blocks are decided per event."""
    facts = EventFacts(event_type, "", frozenset(), {}, disclosure_blocked=False)
    # Interest markers are per person: they decide events, never whether one may subscribe.
    subscription = Subscription(consumer, event_type, purpose)
    decision = decide(snapshot, facts, subscription, at, has_interest=True)
    if decision.reasons and decision.reasons[0] in _BEFORE_GRANTS:
        return decision
    agency, purpose_doc = snapshot.agencies[consumer], snapshot.purposes[purpose]
    if purpose_doc.competence not in agency.competences:
        return decision._replace(outcome=Outcome.DENY, reasons=(Reason.NOT_COMPETENT,))
    grants = [g for g in snapshot.grants.get((consumer, event_type), ()) if g.purpose == purpose]
    current = [g for g in grants if still_open(g, at)]
    if not current:
        return decision._replace(
            outcome=Outcome.DENY, reasons=(Reason.GRANT_EXPIRED,), grant_id=grants[-1].id
        )
    return Decision(
        Outcome.PERMIT,
        (Reason.GRANTED,),
        consumer,
        event_type,
        purpose,
        snapshot.hash,
        grant_id=current[0].id,
        legal_basis=purpose_doc.legal_basis,
    )


# Reasons decided before any grant is looked at: they end a subscription request as they are.
_BEFORE_GRANTS = {
    Reason.UNKNOWN_CONSUMER,
    Reason.UNKNOWN_PURPOSE,
    Reason.NO_GRANT,
    Reason.PURPOSE_MISMATCH,
}


def _in_jurisdiction(
    snapshot: Snapshot, jurisdiction: str, rule: TerritorialRule, facts: EventFacts
) -> bool:
    if rule is TerritorialRule.NATIONWIDE:
        return snapshot.ancestry.get(jurisdiction) == frozenset({jurisdiction})
    return any(snapshot.within(jurisdiction, facts.locations.get(name)) for name in rule.locations)


def _is_source(snapshot: Snapshot, producer: str, event_type: str, territory: str | None) -> bool:
    """Whether `producer` is an authentic source of `event_type` covering `territory`; None (an
    event without a location) is covered only by a nationwide source."""
    for agency, covered in snapshot.authorities.get(event_type, ()):
        if agency != producer:
            continue
        if territory is None:
            if snapshot.ancestry.get(covered) == frozenset({covered}):  # a root: the nation
                return True
        elif snapshot.within(covered, territory):
            return True
    return False


def _not_the_source(
    snapshot: Snapshot, facts: EventFacts, territory: str | None, refusal: str | None = None
) -> ProducerDecision:
    return ProducerDecision(
        Outcome.DENY,
        (Reason.PRODUCER_NOT_AUTHORITATIVE,),
        facts.producer,
        facts.event_type,
        territory,
        snapshot.hash,
        refusal=refusal,
    )
