"""The operator's watch (bus/control/operator_watch.py): when a pass runs, what ACLs follow without a
policy, what it logs, and that no failure ends it."""

import asyncio
import logging
from collections.abc import Hashable

import pytest

from bus.control.acls import AclChanges
from bus.control.operator_watch import (
    PassReport,
    WatchSchedule,
    WatchTiming,
    acl_basis,
    watch,
)
from bus.control.state_reading import StateReading
from bus.kafka.admin import Acl, Operation, Resource
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot, empty_snapshot
from bus.util.backoff import Backoff
from tests.support.policy_sets import agency, grant, policy_set, purpose

GRANTED = compile_snapshot(
    policy_set(
        agencies=(agency("tax", "09", "taxation"),),
        purposes=(purpose("tax", "taxation"),),
        grants=(grant("g-tax", "tax", "tax"),),
    )
)
SUBSCRIBED = frozenset({Subscription("tax", "population.AddressChanged", "tax")})
TIMING = WatchTiming(interval_s=5.0, poll_s=1.0, retry_initial_s=2.0, retry_max_s=8.0)


def _schedule() -> WatchSchedule:
    return WatchSchedule(TIMING, Backoff(2.0, 8.0, random=lambda: 0.999999))


def test_the_first_pass_is_due_at_once() -> None:
    assert _schedule().due(0.0, None)


def test_after_a_pass_the_next_is_due_after_the_interval_or_at_once_on_a_change() -> None:
    schedule = _schedule()
    schedule.succeeded(100.0, ("ends", 3))
    assert not schedule.due(101.0, ("ends", 3))
    assert not schedule.due(104.9, None)  # the ends could not be read: wait for the interval
    assert schedule.due(101.0, ("ends", 4))  # a new record on a state topic: at once
    assert schedule.due(105.0, ("ends", 3))  # the interval passed
    assert schedule.wait(101.0) == 1.0  # looks again after poll_s
    assert schedule.wait(104.5) == pytest.approx(0.5)  # or when the interval ends, if sooner


def test_a_failure_backs_off_even_when_the_state_changes() -> None:
    schedule = _schedule()
    schedule.succeeded(0.0, "a")
    assert schedule.failed(10.0) == pytest.approx(2.0, abs=1e-3)
    assert not schedule.due(11.0, "b")  # a change does not override the backoff
    assert schedule.wait(11.0) == pytest.approx(1.0, abs=1e-3)
    assert schedule.due(12.0, "b")
    assert schedule.failed(12.0) == pytest.approx(4.0, abs=1e-3)  # doubling...
    assert schedule.failed(16.0) == pytest.approx(8.0, abs=1e-3)
    assert schedule.failed(24.0) == pytest.approx(8.0, abs=1e-3)  # ...up to retry_max_s
    schedule.succeeded(32.0, "b")
    assert schedule.failures == 0
    assert schedule.due(32.5, "c")


def test_acls_follow_the_policy_in_force_else_the_last_one_else_none() -> None:
    with_policy = StateReading(GRANTED, SUBSCRIBED)
    without = StateReading(empty_snapshot(), frozenset())
    assert acl_basis(with_policy, None) is with_policy
    assert acl_basis(without, None) is None  # never derived from "no policy": nothing revoked
    basis = acl_basis(without, GRANTED)
    assert basis is not None
    assert basis.snapshot is GRANTED
    assert basis.subscriptions == frozenset()  # an unsubscription still revokes


def test_the_report_names_each_change() -> None:
    read = Acl("User:tax", Resource.TOPIC, "bus.delivery.tax.tax", Operation.READ)
    old = Acl("User:kba", Resource.TOPIC, "bus.delivery.kba.tax", Operation.READ)
    report = PassReport(
        ("bus.delivery.tax.tax",), AclChanges(frozenset({read}), frozenset({old})), None, 1
    )
    assert report.lines() == [
        "topic created: bus.delivery.tax.tax",
        "ACL granted: User:tax READ TOPIC bus.delivery.tax.tax",
        "ACL revoked: User:kba READ TOPIC bus.delivery.kba.tax",
    ]
    assert PassReport((), None, None, 0).lines() == []


class FlakyPass:
    """Fails its first `failures` runs, then succeeds; stops the watch after `stop_after` runs."""

    def __init__(self, failures: int, stop_after: int, stop: asyncio.Event) -> None:
        self.runs, self._failures, self._stop_after, self._stop = 0, failures, stop_after, stop

    async def run(self) -> PassReport:
        self.runs += 1
        if self.runs >= self._stop_after:
            self._stop.set()
        if self.runs <= self._failures:
            raise OSError("broker away")
        return PassReport(("bus.quarantine",), None, None, 0)


async def test_no_failure_ends_the_watch_and_it_stops_on_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bus")
    stop = asyncio.Event()
    flaky = FlakyPass(failures=2, stop_after=4, stop=stop)
    timing = WatchTiming(interval_s=0.01, poll_s=0.01, retry_initial_s=0.01, retry_max_s=0.02)

    async def signature() -> Hashable | None:
        return None

    await asyncio.wait_for(watch(flaky, signature, WatchSchedule(timing), stop), 10)
    assert flaky.runs == 4
    messages = [r.getMessage() for r in caplog.records]
    assert sum("operator pass failed" in m for m in messages) == 2
    assert "operator pass succeeded again after 2 failure(s)" in messages
    assert "topic created: bus.quarantine" in messages
    assert messages[-1] == "operator watch stopped"


async def test_a_change_of_the_state_topics_runs_a_pass_at_once() -> None:
    stop = asyncio.Event()
    runs: list[float] = []
    ends = ["a"]
    loop = asyncio.get_running_loop()

    class Recording:
        async def run(self) -> PassReport:
            runs.append(loop.time())
            return PassReport((), None, None, 0)

    async def signature() -> Hashable | None:
        return ends[0]

    timing = WatchTiming(interval_s=3600, poll_s=0.01)
    task = asyncio.create_task(watch(Recording(), signature, WatchSchedule(timing), stop))
    await asyncio.sleep(0.2)
    assert len(runs) == 1  # the first pass; the next is an hour away
    ends[0] = "b"  # `bus subscribe` wrote a record
    await asyncio.sleep(0.2)
    assert len(runs) == 2
    stop.set()
    await asyncio.wait_for(task, 5)
