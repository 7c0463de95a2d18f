"""The state in force, kept current: re-read policy and subscriptions every few seconds; prepare the
broker (topics, ACLs) before a new state is swapped in; never die. The enforcer's own broker setup
(bus/control/broker_setup.py ReadOnlyBrokerSetup) prepares nothing: the operator's watch does, and
the enforcer only waits for the topics; a test may pass the operator's full KafkaBrokerSetup.

Fail closed, and why this way:
- Any failure to read a new state is logged, counted and retried with backoff; the state in force
  stays. A state not refreshed for `staleness_limit_s`, a watcher that ended, or no valid policy set
  in force (none applied yet, or every one withdrawn) makes `may_proceed()` false: the enforcer
  pauses consumption, so nothing is decided under a policy that may have been revoked or that
  says nothing, and nothing is lost (the events wait in Kafka; a denial would be audited and the
  lawful delivery lost for good).
- Without a policy, ACLs are not derived from "nothing" (which would revoke every agency's access
  and re-grant it when a set is applied again, on any slip of the policy topic): they follow the
  last policy in force, with the current subscriptions and the clock, so an unsubscription or a
  grant passing `valid_until` still revokes; before any policy they stay as the broker has them
  (as `bus acl sync` refuses to sync without an applied set). Nothing new is delivered meanwhile.
- Topics come first: a new state may deliver to topics the old one did not know. A topic that
  cannot be created (or, for the enforcer, which creates none, that the operator has not created
  yet) holds back only the subscriptions that need it (logged, counted, retried every reload); the
  rest of the state, revocations above all, goes in force at once.
- ACLs are synced before the swap, but a failed ACL sync does not hold the new state back (it is
  retried with backoff, and re-synced on a timer anyway). The enforcer's decisions are the primary
  control and must follow a revocation at once; the broker's ACLs are the second line. A new grant
  whose READ is not there yet loses nothing (its deliveries wait in its topic); a revocation whose
  READ is not yet removed still stops every new delivery.
- Broker calls run one at a time (one_at_a_time.py): the thread of a refresh that timed out runs
  on, so the next call waits for it, and ACLs are re-synced at the next refresh, never overtaken.
- The timer (`acl_resync_interval_s`) also removes the READ of a grant that passed `valid_until`
  (the engine already denies its events GRANT_EXPIRED from that instant).
- A malformed record on the state topics is refused (logged and counted once) and the last valid
  state stays; a policy set withdrawn by a tombstone is named once. See policy_in_force.py and
  subscriptions.read_in_force."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from aiokafka.errors import KafkaError

from bus.control.broker_setup import BrokerSetup, TopicsNotProvisionedError
from bus.control.policy_in_force import Withdrawn
from bus.control.refused_records import RefusedRecord
from bus.control.state_reading import StateReading, StateSource
from bus.enforcer.backoff import Backoff
from bus.enforcer.health import EnforcerHealth, StateHealth
from bus.enforcer.one_at_a_time import OneAtATime
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.staleness import StalenessClock
from bus.errors import BusError
from bus.policy.facts import Subscription
from bus.policy.snapshot import Snapshot
from bus.util.stopping import stopped_within

log = logging.getLogger(__name__)

# Failures the watcher expects now and then; anything else is logged with its traceback (a bug).
_EXPECTED = (BusError, KafkaError, TimeoutError, OSError, ValueError)


@dataclass(frozen=True)
class WatcherTiming:
    """The state watcher's intervals, in seconds: how often it re-reads the state, re-syncs
    ACLs, when the state counts as stale, when a refresh has failed, and its retry back-off."""

    reload_interval_s: float = 5.0
    # Also the bound on how long after `valid_until` a grant's READ ACL may outlive it (+ one reload).
    acl_resync_interval_s: float = 30.0
    staleness_limit_s: float = 300.0
    refresh_timeout_s: float = 60.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 30.0


class StateWatcher:
    """Keeps the enforcer's state current (see above): `first_state` reads it, `start` watches
    it; the enforcer asks `current` for it and `may_proceed` whether to decide under it.

    Parameters:
        source: where policy and subscriptions are read.
        broker: prepares topics and ACLs for a state.
        build: makes the enforcer's state from a reading.
        timing: reload, resync, staleness, timeout and retry intervals.
        health: receives the watcher's report and metrics.
        monotonic: the clock of intervals and staleness; injectable for tests.
        wall_clock: epoch seconds, against which grants' `valid_until` is judged for ACLs.
        backoff: the retry waits; by default from `timing`'s retry intervals.
    """

    def __init__(
        self,
        source: StateSource,
        broker: BrokerSetup,
        build: Callable[[StateReading], EnforcerState],
        timing: WatcherTiming,
        health: EnforcerHealth,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self._source, self._broker, self._build = source, broker, build
        self._timing, self._health = timing, health
        self._monotonic, self._wall_clock = monotonic, wall_clock
        self._backoff = backoff or Backoff(timing.retry_initial_s, timing.retry_max_s)
        self.staleness = StalenessClock(timing.staleness_limit_s, monotonic)
        self._state: EnforcerState | None = None
        self._in_force: StateReading | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._refused_seen: set[tuple[str, int]] = set()
        self._refused_now = 0
        self._acl_failures = 0
        self._acls_synced_at: float | None = None
        self._acls_due_at = 0.0
        self._calls = OneAtATime()
        self._wanted: StateReading | None = None  # the last reading, before topics held any back
        self._held_back: frozenset[Subscription] = frozenset()
        self._topics_incomplete = False
        self._last_policy: Snapshot | None = None  # of the last state in force that had one
        self._withdrawn_seen: set[int] = set()
        health.attach(self.health)

    def current(self) -> EnforcerState:
        """The enforcer's state in force (after the first successful refresh)."""
        assert self._state is not None, "refresh() first"
        return self._state

    def may_proceed(self) -> bool:
        """May the enforcer decide under the state in force now? Only while it holds a policy, is
        fresh and the watcher keeps it so."""
        return self.paused_because() is None

    def paused_because(self) -> str | None:
        """Why the enforcer may not proceed now; None while it may."""
        if self._in_force is None:
            return "starting: no state read yet"
        if not self.running():
            return "the state watcher is not running"
        if not self._in_force.has_policy:
            return "no valid policy set in force: apply one (bus policy apply)"
        if not self.staleness.fresh():
            return (
                f"the state in force is stale: not refreshed for {self.staleness.age_s():.0f} s "
                f"(limit {self.staleness.limit_s:.0f} s)"
            )
        return None

    def running(self) -> bool:
        """Whether the watching task started by `start` is still running."""
        return self._task is not None and not self._task.done()

    async def refresh(self) -> bool:
        """Read policy and subscriptions; a changed state gets its topics (those whose topics
        cannot be created are held back), then its ACLs, then is swapped in. Returns whether the
        state in force changed."""
        reading = await self._source.read()
        self._note_refused(reading.refused)
        self._note_withdrawn(reading.withdrawn)
        in_force = self._in_force
        unchanged = self._wanted is not None and reading.same_state(self._wanted)
        if in_force is None or self._topics_incomplete or not unchanged:
            in_force = await self._with_topics(reading)
        changed = self._in_force is None or not in_force.same_state(self._in_force)
        if changed or self._monotonic() >= self._acls_due_at:
            await self._sync_acls(in_force)
        if changed:
            self._swap(in_force)
        self._wanted = reading
        self.staleness.refreshed()
        return changed

    def _swap(self, reading: StateReading) -> None:
        self._state, self._in_force = self._build(reading), reading
        log.info(
            "state in force: policy %s, %d subscriptions",
            reading.snapshot.hash[:19] if reading.has_policy else "none",
            len(reading.subscriptions),
        )
        if reading.has_policy:
            self._last_policy = reading.snapshot
        else:
            log.error(
                "no valid policy set in force: consumption paused until one is applied "
                "(bus policy apply); ACLs %s",
                "follow the last policy in force" if self._last_policy else "are left as they are",
            )

    async def _with_topics(self, reading: StateReading) -> StateReading:
        """`reading` once its topics exist; if some cannot be created, `reading` without the
        subscriptions whose delivery topics are missing (raises if even that cannot be told)."""
        try:
            await self._calls.run(self._broker.ensure_topics, reading)
        except Exception as exc:  # hold back what needs the topics, not the whole state
            ready = await self._calls.run(self._broker.ready_subscriptions, reading)
            held = reading.subscriptions - ready
            self._health.topic_failures.labels(type(exc).__name__).inc()
            if (held != self._held_back or not self._topics_incomplete) and isinstance(
                exc, TopicsNotProvisionedError
            ):  # the enforcer's own setup creates nothing: the operator will, shortly
                log.warning(
                    "%d subscription(s) held back until the operator creates their topics, the "
                    "rest of the state goes in force: %s; %s",
                    len(held),
                    ", ".join(sorted(_describe(s) for s in held)) or "none",
                    exc,
                )
            elif held != self._held_back or not self._topics_incomplete:
                log.error(
                    "topics not created (%s: %s); %d subscription(s) held back until they are, "
                    "the rest of the state goes in force: %s",
                    type(exc).__name__,
                    exc,
                    len(held),
                    ", ".join(sorted(_describe(s) for s in held)) or "none",
                    exc_info=not isinstance(exc, _EXPECTED),
                )
            self._held_back, self._topics_incomplete = held, True
            return reading.limited_to(ready)
        if self._topics_incomplete:
            log.info("topics created: no subscription held back any more")
        self._held_back, self._topics_incomplete = frozenset(), False
        return reading

    async def first_state(self, stop: asyncio.Event) -> bool:
        """Refresh until it succeeds (retrying with backoff) or `stop`; returns whether it did."""
        while not stop.is_set():
            if await self._attempt():
                return True
            if await stopped_within(stop, self._backoff.delay(self._failures)):
                break
        return False

    def start(self, stop: asyncio.Event) -> "asyncio.Task[None]":
        """Keep the state current until `stop`, in a task; if that task ever ends before `stop`,
        `may_proceed()` turns false for good and a critical line says so."""
        self._task = asyncio.create_task(self._watch(stop), name="state-watcher")
        self._task.add_done_callback(lambda task: _ended(task, stop))
        return self._task

    async def _watch(self, stop: asyncio.Event) -> None:
        while True:
            wait = (
                self._timing.reload_interval_s
                if self._failures == 0
                else self._backoff.delay(self._failures)
            )
            if await stopped_within(stop, wait):
                return
            await self._attempt()

    async def _attempt(self) -> bool:
        """One refresh; never raises (but for cancellation)."""
        try:
            await asyncio.wait_for(self.refresh(), self._timing.refresh_timeout_s)
        except Exception as exc:  # nothing may end the watcher: count, log, retry
            self._failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._health.refresh_failures.labels(type(exc).__name__).inc()
            log.error(
                "policy and subscriptions not refreshed (%d failure(s) in a row, state %.0f s "
                "old, pausing at %.0f s); the state in force stays: %s",
                self._failures,
                self.staleness.age_s(),
                self.staleness.limit_s,
                self._last_error,
                exc_info=not isinstance(exc, _EXPECTED),
            )
            return False
        if self._failures:
            log.info("policy and subscriptions refreshed again after %d failure(s)", self._failures)
        self._failures, self._last_error = 0, None
        return True

    async def _sync_acls(self, in_force: StateReading) -> None:
        """Sync ACLs with `in_force` (without a policy: with the last one, see the module
        docstring); a failure is logged, counted and retried with backoff."""
        basis = in_force
        if not in_force.has_policy:
            if self._last_policy is None:
                self._acls_due_at = self._monotonic() + self._timing.acl_resync_interval_s
                return
            basis = replace(in_force, snapshot=self._last_policy)
        self._acls_due_at = 0.0  # until this sync has landed: one abandoned must be redone
        try:
            changes = await self._calls.run(self._broker.sync_acls, basis, self._wall_clock())
        except Exception as exc:  # the new state still goes in force (see the module docstring)
            self._acl_failures += 1
            delay = self._backoff.delay(self._acl_failures)
            self._acls_due_at = self._monotonic() + delay
            self._health.acl_sync_failures.labels(type(exc).__name__).inc()
            log.error(
                "ACL sync failed (%d in a row), retrying in %.0f s: %s: %s",
                self._acl_failures,
                delay,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, _EXPECTED),
            )
            return
        self._acl_failures = 0
        self._acls_synced_at = self._monotonic()
        self._acls_due_at = self._acls_synced_at + self._timing.acl_resync_interval_s
        if changes.added or changes.removed:
            log.info("ACLs synced: +%d -%d", len(changes.added), len(changes.removed))

    def _note_refused(self, refused: tuple[RefusedRecord, ...]) -> None:
        self._refused_now = len(refused)
        for record in refused:
            if (record.topic, record.offset) in self._refused_seen:
                continue
            self._refused_seen.add((record.topic, record.offset))
            self._health.refused.labels(record.topic).inc()
            log.error("record refused, the last valid state stays: %s", record.describe())

    def _note_withdrawn(self, withdrawn: tuple[Withdrawn, ...]) -> None:
        for record in withdrawn:
            if record.offset not in self._withdrawn_seen:
                self._withdrawn_seen.add(record.offset)
                log.warning("%s", record.describe())

    def health(self) -> StateHealth:
        """The watcher's report now, for metrics and `/healthz`."""
        now = self._monotonic()
        in_force = self._in_force
        return StateHealth(
            proceeding=self.may_proceed(),
            watcher_running=self.running(),
            state_age_s=self.staleness.age_s(),
            staleness_limit_s=self.staleness.limit_s,
            policy=in_force.snapshot.hash if in_force and in_force.has_policy else None,
            subscriptions=len(in_force.subscriptions) if in_force else 0,
            refused_records=self._refused_now,
            acls_in_sync=self._acls_synced_at is not None and self._acl_failures == 0,
            acls_synced_age_s=(
                float("inf") if self._acls_synced_at is None else now - self._acls_synced_at
            ),
            failures_in_a_row=self._failures,
            last_error=self._last_error,
            paused_because=self.paused_because(),
            subscriptions_held_back=len(self._held_back),
        )


def _describe(subscription: Subscription) -> str:
    return f"{subscription.consumer} {subscription.event_type} for {subscription.purpose}"


def _ended(task: "asyncio.Task[None]", stop: asyncio.Event) -> None:
    if stop.is_set():
        return
    error = None if task.cancelled() else task.exception()
    log.critical(
        "the state watcher ended (%s): consumption stays paused; restart the enforcer",
        "cancelled" if error is None else f"{type(error).__name__}: {error}",
    )
