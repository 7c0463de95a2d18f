"""The demo's expectations agree with the reference policy: a scenario that expects the wrong
thing would make `bus demo` fail for the wrong reason."""

from datetime import UTC, datetime
from pathlib import Path

from bus.demo.scenario import BENEFITS, scenario
from bus.policy.engine import authorize_producer, authorize_subscription, decide
from bus.policy.facts import Subscription, facts_of
from bus.policy.loader import load_policy_set
from bus.policy.snapshot import compile_snapshot
from consumers.back_offices import REFERENCE_BACK_OFFICES

REFERENCE = Path(__file__).resolve().parents[2] / "policies" / "reference"
SNAPSHOT = compile_snapshot(load_policy_set(REFERENCE))
NOW = datetime(2026, 11, 23, tzinfo=UTC).timestamp()


def test_every_step_is_decided_as_the_scenario_expects() -> None:
    """Each step's register may report it, and its receivers and refusals are the engine's."""
    script = scenario("T1")
    for step in script.steps:
        facts = facts_of(step.event, step.register)
        assert authorize_producer(SNAPSHOT, facts).permitted, step.title
        subscribed = set()
        for office in REFERENCE_BACK_OFFICES:
            for handles in office.handles:
                if handles.event_type != facts.event_type:
                    continue
                subscribed.add(office.agency_id)
                sub = Subscription(office.agency_id, handles.event_type, handles.purpose)
                # The benefits agency's cases: the markers it registers before the registers publish.
                marked = (
                    office.agency_id == BENEFITS and step.event.subject() in script.benefits_cases
                )
                decision = decide(SNAPSHOT, facts, sub, NOW, has_interest=marked)
                if office.agency_id in step.receivers:
                    assert decision.permitted, (step.title, office.agency_id, decision.reasons)
                else:
                    reasons = [r.value for r in decision.reasons]
                    assert step.denied[office.agency_id] in reasons, (step.title, office.agency_id)
        assert step.receivers | set(step.denied) == subscribed, step.title


def test_the_refused_subscription_has_no_grant_and_the_back_offices_have() -> None:
    """The subscription the demo shows refused is refused; every back office's is allowed."""
    consumer, event_type, purpose = scenario("T1").refused_subscription
    assert not authorize_subscription(SNAPSHOT, consumer, event_type, purpose, NOW).permitted
    for office in REFERENCE_BACK_OFFICES:
        for h in office.handles:
            assert authorize_subscription(
                SNAPSHOT, office.agency_id, h.event_type, h.purpose, NOW
            ).permitted
