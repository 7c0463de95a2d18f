"""Issue 12's proof that no input stops enforcement: thousands of validly signed but hostile
records (tests/support/enforcer_fuzz.py); process() never raises, never fails in an unforeseen
way, and each record yields decisions or exactly one quarantine record plus one audit record.
`benchmarks/fuzz_enforcer.py` runs the same for 100,000 examples and more."""

import os

from hypothesis import HealthCheck, given, settings

from bus.enforcer.pipeline import InRecord, process
from tests.support.enforcer_fuzz import NOW, check_outcome, fuzz_state, hostile_records

STATE = fuzz_state()
settings.register_profile(
    "enforcer-fuzz",
    max_examples=int(os.environ.get("BUS_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(settings.get_profile("enforcer-fuzz"))
@given(hostile_records())
def test_no_record_stops_or_fools_the_pipeline(record: InRecord) -> None:
    check_outcome(record, process(record, STATE, NOW))
