"""What process() remembers between records (decisions per event kind, issuers' JWT headers)
never changes what it writes: for hostile and honest records alike (the fuzzer's), the output of a
state that has seen every record before equals, byte for byte, that of a fresh state with no
header remembered."""

from dataclasses import replace

from hypothesis import HealthCheck, given, settings

from bus.enforcer.pipeline import InRecord, Outcome, process
from bus.envelope import sdjwt
from tests.support.enforcer_fuzz import BASE_EVENTS, KEY, NOW, fuzz_state, hostile_records
from tests.support.forged_tokens import honest

WARM = fuzz_state()  # shared by every example: its caches fill as the test goes


def _written(outcome: Outcome) -> list[tuple[str, bytes | None, bytes, object]]:
    return [(r.topic, r.key, r.value, list(r.headers)) for r in outcome.records]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_records())
def test_a_warm_state_writes_what_a_cold_one_does(record: InRecord) -> None:
    warm = process(record, WARM, NOW)
    sdjwt._valid_headers.clear()
    cold = process(record, replace(WARM), NOW)  # a new state: an empty decision cache
    assert _written(warm) == _written(cold)
    assert warm.decisions == cold.decisions
    assert warm.quarantine_reason == cold.quarantine_reason


def test_a_second_event_of_a_kind_is_decided_from_the_cache() -> None:
    # What makes the property above compare a warm path with a cold one.
    state = replace(WARM)
    first, second = (
        process(honest(BASE_EVENTS[0], KEY, time=NOW).record(offset=offset), state, NOW)
        for offset in (0, 1)
    )
    assert len(first.decisions) > 0
    assert state.decisions.hits == len(second.decisions) == len(first.decisions)
