"""Retry waits double from the first up to the cap, each drawn from the upper half of its step."""

from bus.enforcer.backoff import Backoff


def test_waits_double_up_to_the_cap() -> None:
    top = Backoff(initial_s=1.0, max_s=30.0, random=lambda: 0.999999)
    assert [round(top.delay(n), 3) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_each_wait_lies_in_the_upper_half_of_its_step() -> None:
    bottom = Backoff(initial_s=1.0, max_s=30.0, random=lambda: 0.0)
    assert [bottom.delay(n) for n in (1, 2, 6)] == [0.5, 1.0, 15.0]


def test_a_long_outage_neither_overflows_nor_exceeds_the_cap() -> None:
    assert Backoff(initial_s=1.0, max_s=30.0).delay(10_000) <= 30.0
