"""The enforcer's event, decision and quarantine counters are added up per transaction and shown
at `flush` (the loop flushes after each commit and on each failure): the totals are those of one
increment per event and decision."""

from prometheus_client import CollectorRegistry

from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.pipeline import Outcome
from bus.policy.decision import Decision, Reason
from bus.policy.decision import Outcome as Verdict

TYPE = "population.AddressChanged"


def _decision(consumer: str, verdict: Verdict, reason: Reason) -> Decision:
    return Decision(verdict, (reason,), consumer, TYPE, "tax", "sha256:x")


def test_counts_appear_at_flush_and_add_up() -> None:
    registry = CollectorRegistry()
    metrics = EnforcerMetrics(registry)
    permit = _decision("tax-a", Verdict.PERMIT, Reason.GRANTED)
    deny = _decision("tax-b", Verdict.DENY, Reason.OUT_OF_JURISDICTION)
    decided = Outcome([], [permit, deny], event_type=TYPE, producer="muni-muc")
    refused = Outcome([], [], quarantine_reason="BAD_SIGNATURE")
    for outcome in (decided, decided, refused):
        metrics.record(outcome, 0.001)
    sample = registry.get_sample_value
    events = {"event_type": TYPE, "producer": "muni-muc"}
    assert sample("bus_enforcer_events_consumed_total", events) is None  # not shown yet
    metrics.flush()
    metrics.record(decided, 0.001)
    metrics.flush()
    assert sample("bus_enforcer_events_consumed_total", events) == 3
    unknown = {"event_type": "unknown", "producer": "unknown"}
    assert sample("bus_enforcer_events_consumed_total", unknown) == 1
    assert sample("bus_enforcer_quarantined_total", {"reason": "BAD_SIGNATURE"}) == 1
    granted = {"outcome": "PERMIT", "reason": "GRANTED", "consumer": "tax-a"}
    assert sample("bus_enforcer_decisions_total", granted) == 3
    out = {"outcome": "DENY", "reason": "OUT_OF_JURISDICTION", "consumer": "tax-b"}
    assert sample("bus_enforcer_decisions_total", out) == 3
    assert sample("bus_enforcer_processing_seconds_count") == 4  # observed per event, at once
    metrics.flush()  # nothing pending: nothing counted twice
    assert sample("bus_enforcer_decisions_total", granted) == 3
