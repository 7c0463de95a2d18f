"""The decision cache answers exactly as `decide` does: for random policy sets and requests (the
differential test's generators, which put times at grant bounds), each request's facts asked again
at the times of the other requests, so that entries are hit, outlived and replaced."""

import random

from bus.policy.decision_cache import DecisionCache
from bus.policy.engine import decide
from bus.policy.snapshot import compile_snapshot
from tests.support.policy_generators import random_policy_set, random_requests

SEEDS = range(6)
REQUESTS = 150
TIMES_PER_REQUEST = 12


def test_the_cache_decides_as_decide_does_at_every_time() -> None:
    hits = calls = 0
    for seed in SEEDS:
        rng = random.Random(seed)
        policy_set = random_policy_set(rng, fractional=seed % 2 == 0)
        requests = random_requests(rng, policy_set, REQUESTS, fractional=seed % 2 == 1)
        snapshot = compile_snapshot(policy_set)
        cache = DecisionCache()
        times = [r.at for r in requests]
        for request in requests:
            # Each request's own time, then others' in random order: forwards and backwards.
            for at in [request.at, *rng.sample(times, TIMES_PER_REQUEST)]:
                expected = decide(snapshot, request.facts, request.subscription, at)
                got = cache.decide(snapshot, request.facts, request.subscription, at)
                assert got == expected, f"seed {seed}, at {at}: {request}"
                calls += 1
        hits += cache.hits
    # Most answers came from the cache, and enough did not: both paths were compared.
    assert 0.3 * calls < hits < 0.95 * calls, (hits, calls)


def test_a_full_cache_starts_over_and_still_decides_alike() -> None:
    rng = random.Random(99)
    policy_set = random_policy_set(rng)
    snapshot = compile_snapshot(policy_set)
    cache = DecisionCache(max_entries=3)
    for request in random_requests(rng, policy_set, 200) * 2:
        expected = decide(snapshot, request.facts, request.subscription, request.at)
        assert cache.decide(snapshot, request.facts, request.subscription, request.at) == expected
