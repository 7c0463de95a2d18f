"""The state watcher's rules, with the bus and the broker replaced by in-memory stand-ins: nothing
ends it, a refresh that cannot reach the broker leaves the old state in force, a failed ACL sync
never holds back a new (possibly revoking) state and is retried, ACLs are re-synced on a timer and
never overtaken by an abandoned sync, and a state that grows stale, holds no policy (or a watcher
that ended) stops the enforcer from proceeding (test_state_topics.py: topics that fail)."""

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError

from bus.control.acls import AclChanges
from bus.control.policy_in_force import Withdrawn
from bus.control.refused_records import RefusedRecord
from bus.control.state_reading import StateReading
from bus.enforcer.backoff import Backoff
from bus.enforcer.health import EnforcerHealth
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.state_watcher import StateWatcher, WatcherTiming
from bus.keys import KeyStore
from bus.policy.facts import Subscription
from bus.policy.snapshot import compile_snapshot, empty_snapshot
from bus.record.pseudonyms import Pseudonymizer
from tests.support.policy_sets import agency, grant, policy_set, purpose

GRANTED = compile_snapshot(
    policy_set(
        agencies=(agency("tax", "09", "taxation"),),
        purposes=(purpose("tax", "taxation"),),
        grants=(grant("g-tax", "tax", "tax"),),
    )
)
SUBSCRIBED = frozenset({Subscription("tax", "population.AddressChanged", "tax")})
FAST = WatcherTiming(
    reload_interval_s=0.01, acl_resync_interval_s=30, staleness_limit_s=300, refresh_timeout_s=1
)


def _validation_error() -> ValidationError:
    class Registration(BaseModel):
        consumer: str

    try:
        Registration.model_validate({"consumer": 5})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@dataclass
class Source:
    """Serves `reading`, or raises the next of `errors` first."""

    reading: StateReading
    errors: list[BaseException] = field(default_factory=list)
    reads: int = 0

    async def read(self) -> StateReading:
        self.reads += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.reading


@dataclass
class Broker:
    topic_errors: list[Exception] = field(default_factory=list)
    acl_errors: list[Exception] = field(default_factory=list)
    synced: list[StateReading] = field(default_factory=list)

    def ensure_topics(self, reading: StateReading) -> None:
        if self.topic_errors:
            raise self.topic_errors.pop(0)

    def ready_subscriptions(self, reading: StateReading) -> frozenset[Subscription]:
        if self.topic_errors:  # the broker is away: not even its topics can be listed
            raise self.topic_errors.pop(0)
        return reading.subscriptions

    def sync_acls(self, reading: StateReading, at: float) -> AclChanges:
        if self.acl_errors:
            raise self.acl_errors.pop(0)
        self.synced.append(reading)
        return AclChanges(frozenset(), frozenset())


def _state(reading: StateReading) -> EnforcerState:
    return EnforcerState(
        snapshot=reading.snapshot,
        keys=KeyStore([]),
        subscriptions={"population.AddressChanged": tuple(reading.subscriptions)},
        pseudonyms=Pseudonymizer(b"k" * 32),
    )


def _watcher(
    source: Source,
    broker: Broker,
    now: list[float],
    timing: WatcherTiming = FAST,
    registry: CollectorRegistry | None = None,
) -> StateWatcher:
    return StateWatcher(
        source,
        broker,
        _state,
        timing,
        EnforcerHealth(registry),
        monotonic=lambda: now[0],
        backoff=Backoff(0.01, 0.02),
    )


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("condition not met in time")


async def test_no_failure_ends_the_watcher_each_is_counted_and_the_state_stays() -> None:
    source = Source(StateReading(GRANTED, SUBSCRIBED))
    registry = CollectorRegistry()
    watcher = _watcher(source, Broker(), [0.0], registry=registry)
    assert await watcher.refresh()
    in_force = watcher.current()
    source.errors = [
        _validation_error(),
        json.JSONDecodeError("Expecting value", "{", 1),
        KafkaConnectionError("broker restarting"),
        TimeoutError(),
        RuntimeError("a bug"),
    ]
    stop = asyncio.Event()
    task = watcher.start(stop)
    await _until(lambda: not source.errors and source.reads >= 8)
    assert not task.done()
    assert watcher.current() is in_force
    assert watcher.may_proceed()
    sample = registry.get_sample_value
    for error in ("ValidationError", "JSONDecodeError", "KafkaConnectionError", "TimeoutError"):
        assert sample("bus_enforcer_state_refresh_failures_total", {"error": error}) == 1, error
    assert sample("bus_enforcer_state_refresh_failures_total", {"error": "RuntimeError"}) == 1
    assert watcher.health().failures_in_a_row == 0  # refreshed again since
    stop.set()
    await task


async def test_a_refresh_that_hangs_is_a_failure_too() -> None:
    class Hanging(Source):
        async def read(self) -> StateReading:
            self.reads += 1
            if self.reads > 1:
                await asyncio.sleep(3600)
            return self.reading

    source = Hanging(StateReading(GRANTED, SUBSCRIBED))
    timing = WatcherTiming(reload_interval_s=0.01, refresh_timeout_s=0.05)
    watcher = _watcher(source, Broker(), [0.0], timing)
    stop = asyncio.Event()
    assert await watcher.first_state(stop)
    task = watcher.start(stop)
    await _until(lambda: watcher.health().failures_in_a_row >= 2)
    assert "TimeoutError" in (watcher.health().last_error or "")
    stop.set()
    await task


async def test_topics_that_cannot_even_be_listed_leave_the_old_state_in_force() -> None:
    source = Source(StateReading(empty_snapshot(), frozenset()))
    broker = Broker()
    watcher = _watcher(source, broker, [0.0])
    await watcher.refresh()
    source.reading = StateReading(GRANTED, SUBSCRIBED)
    broker.topic_errors = [KafkaConnectionError("topics"), KafkaConnectionError("list")]
    with pytest.raises(KafkaConnectionError):
        await watcher.refresh()
    assert watcher.current().snapshot.hash == empty_snapshot().hash
    assert await watcher.refresh()  # the next refresh succeeds
    assert watcher.current().snapshot.hash == GRANTED.hash


async def test_a_failed_acl_sync_does_not_hold_a_revocation_back_and_is_retried() -> None:
    now = [0.0]
    source = Source(StateReading(GRANTED, SUBSCRIBED))
    broker = Broker()
    watcher = _watcher(source, broker, now)
    await watcher.refresh()

    revoked = StateReading(GRANTED, frozenset())  # unsubscribed
    source.reading = revoked
    broker.acl_errors = [KafkaConnectionError("acls")]
    assert await watcher.refresh()
    assert watcher.current().subscriptions["population.AddressChanged"] == ()  # in force at once
    assert not watcher.health().acls_in_sync
    assert watcher.staleness.age_s() == 0  # a successful refresh: the enforcer goes on

    now[0] += 1  # past the retry backoff (at most 0.02 s here)
    assert not await watcher.refresh()
    assert broker.synced[-1] is revoked
    assert watcher.health().acls_in_sync


async def test_acls_are_resynced_on_a_timer_even_without_changes() -> None:
    now = [0.0]
    broker = Broker()
    watcher = _watcher(Source(StateReading(GRANTED, SUBSCRIBED)), broker, now)
    await watcher.refresh()
    await watcher.refresh()
    assert len(broker.synced) == 1
    now[0] += FAST.acl_resync_interval_s
    await watcher.refresh()
    assert len(broker.synced) == 2  # a grant past valid_until by now loses its READ here


async def test_a_stale_state_stops_the_enforcer_from_proceeding_until_refreshed() -> None:
    now = [0.0]
    source = Source(StateReading(GRANTED, SUBSCRIBED))
    watcher = _watcher(source, Broker(), now, WatcherTiming(staleness_limit_s=300))
    stop = asyncio.Event()
    assert not watcher.may_proceed()  # no state yet
    assert await watcher.first_state(stop)
    task = watcher.start(stop)
    assert watcher.may_proceed()
    now[0] += 301  # no refresh for longer than the limit
    assert not watcher.may_proceed()
    assert not watcher.health().proceeding
    await watcher.refresh()
    assert watcher.may_proceed()
    stop.set()
    await task


async def test_a_watcher_that_ends_stops_the_enforcer_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = Source(StateReading(GRANTED, SUBSCRIBED))
    watcher = _watcher(source, Broker(), [0.0])
    stop = asyncio.Event()
    await watcher.first_state(stop)
    task = watcher.start(stop)
    assert watcher.may_proceed()
    task.cancel()  # what no failure can do; anything that still ends it
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)  # done callbacks run
    assert not watcher.may_proceed()
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical
    assert "state watcher ended" in critical[0].getMessage()


async def test_a_refused_record_is_logged_and_counted_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = RefusedRecord("bus.policy", 7, b"sha256:broken", "not JSON")
    registry = CollectorRegistry()
    source = Source(StateReading(GRANTED, SUBSCRIBED, (refused,)))
    watcher = _watcher(source, Broker(), [0.0], registry=registry)
    for _ in range(3):
        await watcher.refresh()
    sample = registry.get_sample_value
    assert sample("bus_enforcer_state_records_refused_total", {"topic": "bus.policy"}) == 1
    assert sample("bus_enforcer_state_refused_records") == 1  # still there: the alert holds
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert lines == [
        "record refused, the last valid state stays: bus.policy offset 7 "
        "(key sha256:broken): not JSON"
    ]
    stop = asyncio.Event()
    task = watcher.start(stop)
    assert watcher.health().status == "degraded"  # enforcing, but an operator should look
    stop.set()
    await task


async def test_with_no_valid_policy_it_pauses_says_why_and_keeps_the_last_policys_acls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    refused = RefusedRecord("bus.policy", 0, b"sha256:x", "not JSON")
    source = Source(StateReading(empty_snapshot(), SUBSCRIBED, (refused,)))
    broker = Broker()
    watcher = _watcher(source, broker, now)
    stop = asyncio.Event()
    assert await watcher.first_state(stop)  # a bad newest record does not stop the start...
    task = watcher.start(stop)
    assert not watcher.may_proceed()  # ...but nothing is decided: every event waits in Kafka
    report = watcher.health()
    assert not report.proceeding  # /healthz answers 503
    assert report.status == "paused"
    assert "no valid policy" in (report.paused_because or "")
    assert report.policy is None
    assert broker.synced == []  # nothing to derive ACLs from: the broker's stay as they are
    assert any("consumption paused" in r.getMessage() for r in caplog.records)

    source.reading = StateReading(GRANTED, SUBSCRIBED)  # `bus policy apply`
    assert await watcher.refresh()
    assert watcher.may_proceed()
    assert broker.synced[-1].snapshot.hash == GRANTED.hash

    source.reading = StateReading(empty_snapshot(), frozenset())  # every set withdrawn
    assert await watcher.refresh()
    assert not watcher.may_proceed()
    # ACLs follow the last policy in force (an unsubscription still revokes), never "nothing".
    assert broker.synced[-1].snapshot.hash == GRANTED.hash
    assert broker.synced[-1].subscriptions == frozenset()
    now[0] += FAST.acl_resync_interval_s  # the timer too (a grant past valid_until loses READ)
    await watcher.refresh()
    assert len(broker.synced) == 3
    assert broker.synced[-1].snapshot.hash == GRANTED.hash
    stop.set()
    await task


async def test_a_timed_out_acl_sync_never_lands_after_a_newer_one() -> None:
    """The thread of a refresh that timed out cannot be cancelled; a newer sync waits for it, so
    a revocation is never overwritten by the grant of an abandoned refresh."""
    granting = StateReading(GRANTED, SUBSCRIBED)
    revoking = StateReading(GRANTED, frozenset())

    @dataclass
    class SlowBroker(Broker):
        release: threading.Event = field(default_factory=threading.Event)
        landed: list[StateReading] = field(default_factory=list)

        def sync_acls(self, reading: StateReading, at: float) -> AclChanges:
            if reading is granting:
                self.release.wait(10)  # the broker is slow: create_acls lands late
            self.landed.append(reading)
            return AclChanges(frozenset(), frozenset())

    source = Source(revoking)
    broker = SlowBroker()
    watcher = _watcher(source, broker, [0.0])
    stop = asyncio.Event()
    assert await watcher.first_state(stop)
    source.reading = granting
    with pytest.raises(TimeoutError):  # as the watcher's own timeout cancels a refresh
        await asyncio.wait_for(watcher.refresh(), 0.05)  # its ACL sync runs on in its thread
    source.reading = revoking  # what is in force still; the broker's ACLs are now unknown
    refreshing = asyncio.create_task(watcher.refresh())
    await asyncio.sleep(0.2)
    broker.release.set()
    await asyncio.wait_for(refreshing, 5)
    await _until(lambda: granting in broker.landed)
    assert broker.landed[-1] is revoking


async def test_a_withdrawn_policy_set_is_named_once_in_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    withdrawn = Withdrawn(b"sha256:v2", 1, 2)
    watcher = _watcher(Source(StateReading(GRANTED, SUBSCRIBED, (), (withdrawn,))), Broker(), [0.0])
    for _ in range(3):
        await watcher.refresh()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [withdrawn.describe()]
    assert "sha256:v2" in warnings[0]
