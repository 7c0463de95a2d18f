"""Is the producer the authentic source of this event? The registration law's rule, location by
location (policies/reference/README.md, "Who reports an event"): the producer must be the source
for the location whose register reports the event, and may name no other location of the bus's
territory except those that register records from the person's own declaration."""

from typing import NamedTuple

from bus.policy.decision import Decision, Outcome, Reason
from bus.policy.engine import authorize_producer
from bus.policy.facts import EventFacts
from bus.policy.snapshot import Snapshot


class ReportCheck(NamedTuple):
    """The producer check's answer, with the territory it was checked for and why."""

    decision: Decision
    territory: str | None  # where the producer had to be the source; None: nationwide
    explanation: str  # one sentence, naming the location that decided


def authorize_report(snapshot: Snapshot, facts: EventFacts) -> ReportCheck:
    """Whether `facts.producer` may report this event under `snapshot`'s producer authorities:
    permitted only if it is the source for the reporting location, and the event places no other
    location in the bus's territory beyond those declared."""
    reporting = facts.reporting
    where = reporting.location
    territory = None if where is None else facts.locations.get(where)
    if where is not None and territory is None:
        return _refused(
            snapshot,
            facts,
            None,
            f"the event names no municipality for {where}, whose register must report it",
        )
    decision = authorize_producer(snapshot, facts.producer, facts.event_type, territory)
    if not decision.permitted:
        return ReportCheck(decision, territory, decision.explanation)
    for name, code in facts.locations.items():
        if name == where or name in reporting.declared or code is None:
            continue
        if code in snapshot.ancestry:  # a territory of the bus: grants could route on it
            return _refused(
                snapshot,
                facts,
                territory,
                f"{facts.producer} reports {facts.event_type} for {where}, but the event also "
                f"places {name} in {code}, which is not that register's to report",
            )
    return ReportCheck(decision, territory, decision.explanation)


def _refused(
    snapshot: Snapshot, facts: EventFacts, territory: str | None, sentence: str
) -> ReportCheck:
    decision = Decision(
        Outcome.DENY,
        (Reason.PRODUCER_NOT_AUTHORITATIVE,),
        "",
        facts.event_type,
        "",
        snapshot.hash,
        producer=facts.producer,
    )
    return ReportCheck(decision, territory, f"DENY: {sentence}.")
