"""The enforcer fuzz test (tests/unit/test_enforcer_fuzz.py) at scale, on demand (no broker needed):

    .venv/bin/python -m benchmarks.fuzz_enforcer [--examples 100000] [--seed N]

Runs `--examples` hostile, validly signed records through `process()` and checks each outcome as
the test does (never raises, never INTERNAL_ERROR, decisions or exactly one quarantine record plus
one audit record). Prints the count, the time, the outcomes by reason, and the time process()
takes per hostile record against an honest event measured in the same run (a hostile record must
not cost the enforcer much more than a real one). Exits 1 on a failure, after hypothesis prints
the smallest failing record it found.
"""

import argparse
import sys
import time
from collections import Counter

from hypothesis import HealthCheck, Phase, given, seed, settings

from bus.enforcer.pipeline import InRecord, process
from tests.support.enforcer_fuzz import BASE_EVENTS, KEY, NOW, check_outcome, fuzz_state
from tests.support.enforcer_fuzz import hostile_records as hostile
from tests.support.forged_tokens import honest

BASELINE_EVENTS = 2_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    state = fuzz_state()

    honest_records = [
        honest(BASE_EVENTS[i % len(BASE_EVENTS)], KEY, time=NOW).record()
        for i in range(BASELINE_EVENTS)
    ]
    started = time.perf_counter()
    for record in honest_records:
        process(record, state, NOW)
    honest_seconds = (time.perf_counter() - started) / BASELINE_EVENTS

    outcomes: Counter[str] = Counter()
    in_process = 0.0

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile())
    def run(record: InRecord) -> None:
        nonlocal in_process
        before = time.perf_counter()
        outcome = process(record, state, NOW)
        in_process += time.perf_counter() - before
        check_outcome(record, outcome)
        outcomes[outcome.quarantine_reason or "DECIDED"] += 1

    if args.seed is not None:
        run = seed(args.seed)(run)
    print(f"fuzzing process() with {args.examples:,} hostile records …", flush=True)
    started = time.perf_counter()
    try:
        run()
    except Exception as exc:
        print(f"FAILED after {sum(outcomes.values()):,} records: {exc!r}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    total = sum(outcomes.values())
    hostile_seconds = in_process / total
    print(f"examples: {total:,} in {elapsed:.1f} s ({total / elapsed:,.0f}/s with generation)")
    for reason, count in outcomes.most_common():
        print(f"  {reason:<28} {count:>8,}")
    print(
        f"process(): {hostile_seconds * 1e6:.1f} µs per hostile record, "
        f"{honest_seconds * 1e6:.1f} µs per honest event (baseline, {BASELINE_EVENTS:,} events); "
        f"ratio {hostile_seconds / honest_seconds:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
