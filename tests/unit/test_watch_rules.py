"""The watch's rules, pure: counts per window, baselines, thresholds, what an alert says."""

import statistics
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from bus.record.alert import rfc3339
from bus.record.audit_record import RecordedOutcome
from bus.util.paths import PROJECT_ROOT
from bus.watch.emission import AlertGate
from bus.watch.observation import Observation
from bus.watch.rules import (
    BaselineBurstRule,
    PersonDenialsRule,
    PersonSpreadRule,
    Raised,
    windowed_rules,
)
from bus.watch.thresholds import BaselineBurst, PersonDenials, PersonSpread, load_thresholds
from bus.watch.window_state import CachedWindows

REFERENCE = PROJECT_ROOT / "policies" / "reference" / "watch.yaml"
HOUR = 3600
T0 = 1_800_000_000 - 1_800_000_000 % HOUR  # a window's start


def seen(
    at: float,
    outcome: RecordedOutcome = RecordedOutcome.PERMIT,
    consumer: str | None = "tax",
    purpose: str | None = "assessment",
    subject: str | None = "psn-1",
    source: str | None = "muni",
    n: int = 0,
) -> Observation:
    return Observation(
        at, f"bus.audit:0:{n}", outcome, f"ev-{n}", consumer, purpose, source, subject
    )


def bulk_rule(floor: int = 10, factor: float = 5, history: int = 4) -> BaselineBurstRule:
    thresholds = BaselineBurst(
        window_seconds=HOUR, history_windows=history, factor=factor, floor=floor
    )
    return rule_named("bulk_release", bulk_release=thresholds)


def rule_named(name: str, **overrides: BaselineBurst) -> BaselineBurstRule:
    thresholds = load_thresholds(REFERENCE).model_copy(update=overrides)
    (rule,) = [r for r in windowed_rules(thresholds) if r.name == name]
    assert isinstance(rule, BaselineBurstRule)
    return rule


def run(
    rule: BaselineBurstRule | PersonSpreadRule | PersonDenialsRule, observations: list[Observation]
) -> list[Raised]:
    windows = CachedWindows({}, rule.window_seconds)
    raised = []
    for n, observation in enumerate(observations):
        if n % 7 == 0:
            windows.flush()  # as the app does after each batch: reads see held and flushed values
        verdict = rule.observe(observation, windows.at(observation.at), now=observation.at)
        if verdict:
            raised.append(verdict)
    return raised


def test_a_new_consumer_purpose_alerts_only_past_the_floor() -> None:
    raised = run(bulk_rule(floor=10), [seen(T0 + i, n=i) for i in range(12)])
    assert [r.level for r in raised] == [11, 12]
    alert = raised[0].alert
    assert alert.key == "bulk_release|tax/assessment|" + alert.window_start
    assert alert.figures == {
        "count": 11.0,
        "limit": 10.0,
        "median": 0.0,
        "factor": 5.0,
        "floor": 10.0,
    }
    assert [d.position for d in alert.decisions] == [f"bus.audit:0:{i}" for i in range(6, 11)]


def test_the_limit_follows_the_keys_own_median() -> None:
    # 40 an hour for four hours: the limit becomes 5 × 40 = 200, not the floor of 10.
    history = [seen(T0 + h * HOUR + i, n=i) for h in range(4) for i in range(40)]
    now_hour = [seen(T0 + 4 * HOUR + i, n=i) for i in range(201)]
    raised = run(bulk_rule(floor=10), history + now_hour)
    in_the_last_hour = [r for r in raised if r.alert.window_start == rfc3339(T0 + 4 * HOUR)]
    assert [r.level for r in in_the_last_hour] == [201]
    raised = in_the_last_hour
    assert raised[0].alert.figures["median"] == 40
    assert raised[0].alert.figures["limit"] == 200


def test_a_burst_in_one_hour_does_not_count_in_the_next() -> None:
    rule = bulk_rule(floor=10)
    raised = run(
        rule, [seen(T0 + i, n=i) for i in range(10)] + [seen(T0 + HOUR + i, n=i) for i in range(10)]
    )
    assert raised == []


def test_other_outcomes_and_other_keys_do_not_count() -> None:
    observations = [seen(T0 + i, outcome=RecordedOutcome.DENY, n=i) for i in range(20)]
    observations += [seen(T0 + i, consumer=f"c{i}", n=i) for i in range(20)]
    assert run(bulk_rule(floor=10), observations) == []


def test_person_spread_counts_distinct_agencies() -> None:
    rule = PersonSpreadRule(PersonSpread(window_seconds=600, max_consumers=2))
    same_agency_twice = [seen(T0 + i, consumer="tax", n=i) for i in range(5)]
    assert run(rule, same_agency_twice) == []
    raised = run(rule, [seen(T0 + i, consumer=c, n=i) for i, c in enumerate(["a", "b", "a", "c"])])
    (alert,) = [r.alert for r in raised]
    assert alert.subject == "psn-1"
    assert alert.subject_kind == "person"
    assert alert.figures == {"agencies": 3.0, "limit": 2.0}
    assert "a, b, c" in alert.summary


def test_person_denials_alert_past_the_maximum_only_for_denials() -> None:
    rule = PersonDenialsRule(PersonDenials(window_seconds=600, max_denials=3))
    permits = [seen(T0 + i, n=i) for i in range(10)]
    denials = [seen(T0 + 20 + i, outcome=RecordedOutcome.DENY, n=i) for i in range(4)]
    assert [r.level for r in run(rule, permits + denials)] == [4]


def test_need_to_know_denials_are_routine_not_probing_nor_denials_about_a_person() -> None:
    routine = [
        replace(seen(T0 + i, outcome=RecordedOutcome.DENY, n=i), routine=True) for i in range(40)
    ]
    rule = PersonDenialsRule(PersonDenials(window_seconds=600, max_denials=3))
    assert run(rule, routine) == []
    probing = BaselineBurst(window_seconds=HOUR, history_windows=1, factor=2, floor=5)
    assert run(rule_named("probing", probing=probing), routine) == []
    assert run(rule_named("probing", probing=probing), [replace(r, routine=False) for r in routine])


def test_quarantines_count_under_their_source() -> None:
    burst = BaselineBurst(window_seconds=HOUR, history_windows=1, factor=2, floor=5)
    rule = rule_named("quarantine_burst", quarantine_burst=burst)
    forged = [
        seen(
            T0 + i,
            outcome=RecordedOutcome.QUARANTINED,
            consumer=None,
            purpose=None,
            subject=None,
            source="unverified@bus.ingress.X",
            n=i,
        )
        for i in range(6)
    ]
    raised = run(rule, forged)
    assert [r.alert.subject for r in raised] == ["unverified@bus.ingress.X"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 * HOUR - 1), st.sampled_from(["a", "b"])), max_size=60))
def test_an_alerts_count_is_the_number_of_matching_records_so_far_in_its_window(
    records: list[tuple[int, str]],
) -> None:
    rule = bulk_rule(floor=3, history=2)
    windows = CachedWindows({}, HOUR)
    done: list[Observation] = []
    for n, (offset, consumer) in enumerate(sorted(records)):
        observation = seen(T0 + offset, consumer=consumer, n=n)
        done.append(observation)
        raised = rule.observe(observation, windows.at(observation.at), now=observation.at)
        start = T0 + offset - offset % HOUR

        def count(begin: float, consumer: str = consumer) -> int:
            return sum(1 for o in done if o.consumer == consumer and begin <= o.at < begin + HOUR)

        expected = count(start)
        limit = max(3.0, 5 * statistics.median([count(start - HOUR), count(start - 2 * HOUR)]))
        assert (raised is not None) == (expected > limit)
        if raised:
            assert raised.alert.figures["count"] == expected
            assert raised.alert.subject == f"{consumer}/assessment"


def test_the_gate_sends_once_then_on_doubling_and_again_after_a_restart() -> None:
    raised = run(bulk_rule(floor=2), [seen(T0 + i, n=i) for i in range(20)])
    gate = AlertGate()
    assert [r.level for r in raised if gate.admit(r)] == [3, 6, 12]
    restarted = AlertGate()  # a new process: the first it sees is sent again
    assert [r.level for r in raised[5:] if restarted.admit(r)] == [8, 16]


def test_the_gate_forgets_the_oldest_key_first() -> None:
    gate = AlertGate(max_remembered=2)
    a, b, c = (
        run(bulk_rule(floor=1), [seen(T0, consumer=x), seen(T0 + 1, consumer=x)])[0] for x in "abc"
    )
    assert gate.admit(a)
    assert gate.admit(b)
    assert gate.admit(c)
    assert gate.admit(a)  # forgotten: sent again (harmless: same key)
    assert not gate.admit(c)


def test_the_gate_remembers_only_what_was_sent() -> None:
    (first, *_) = run(bulk_rule(floor=2), [seen(T0 + i, n=i) for i in range(4)])
    gate = AlertGate()
    assert gate.wants(first)
    # The send failed: not remembered, so the next record past the threshold sends it.
    assert gate.wants(first)
    gate.sent(first)
    assert not gate.wants(first)
