"""The staleness clock: infinitely old before the first refresh, fresh up to the limit, stale after."""

import math

from bus.enforcer.staleness import StalenessClock


def test_age_counts_from_the_last_successful_refresh() -> None:
    now = [100.0]
    clock = StalenessClock(limit_s=300, clock=lambda: now[0])
    assert clock.age_s() == math.inf
    assert not clock.fresh()

    clock.refreshed()
    now[0] += 300
    assert clock.age_s() == 300
    assert clock.fresh()  # the limit itself still counts as fresh
    now[0] += 0.5
    assert not clock.fresh()

    clock.refreshed()
    assert clock.age_s() == 0
    assert clock.fresh()
