"""The state in force, kept current: re-read policy and subscriptions every few seconds; prepare the
broker (topics, ACLs) before a new state is swapped in; never die.

Fail closed, and why this way:
- Any failure to read or prepare a new state is logged, counted and retried with backoff; the
  state in force stays. A state not refreshed for `staleness_limit_s`, or a watcher that ended,
  makes `may_proceed()` false: the enforcer pauses consumption, so nothing is permitted under a
  policy that may have been revoked meanwhile, and nothing is lost (the events wait in Kafka).
- Topics come first: a new state may deliver to topics the old one did not know.
- ACLs are synced before the swap, but a failed ACL sync does not hold the new state back (it is
  retried with backoff, and re-synced on a timer anyway). The enforcer's decisions are the primary
  control and must follow a revocation at once; the broker's ACLs are the second line. A new grant
  whose READ is not there yet loses nothing (its deliveries wait in its topic); a revocation whose
  READ is not yet removed still stops every new delivery.
- The timer (`acl_resync_interval_s`) also removes the READ of a grant that passed `valid_until`
  (the engine already denies its events GRANT_EXPIRED from that instant).
- A malformed record on the state topics is refused (logged and counted once) and the last valid
  state stays; see policy_store.read_in_force and subscriptions.read_in_force."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka.errors import KafkaError

from bus.enforcer.backoff import Backoff
from bus.enforcer.health import EnforcerHealth, StateHealth
from bus.enforcer.pipeline import EnforcerState
from bus.enforcer.staleness import StalenessClock
from bus.enforcer.state_sources import BrokerSetup, StateReading, StateSource
from bus.errors import BusError
from bus.refused_records import RefusedRecord
from policies.snapshot import EMPTY_HASH

log = logging.getLogger(__name__)

# Failures the watcher expects now and then; anything else is logged with its traceback (a bug).
_EXPECTED = (BusError, KafkaError, TimeoutError, OSError, ValueError)


@dataclass(frozen=True)
class WatcherTiming:
    reload_interval_s: float = 5.0
    # Also the bound on how long after `valid_until` a grant's READ ACL may outlive it (+ one reload).
    acl_resync_interval_s: float = 30.0
    staleness_limit_s: float = 300.0
    refresh_timeout_s: float = 60.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 30.0


class StateWatcher:
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
        health.attach(self.health)

    def current(self) -> EnforcerState:
        assert self._state is not None, "refresh() first"
        return self._state

    def may_proceed(self) -> bool:
        """May the enforcer decide under the state in force now? Only while it is fresh and the
        watcher keeps it so."""
        return self._state is not None and self.running() and self.staleness.fresh()

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def refresh(self) -> bool:
        """Read policy and subscriptions; a changed state gets its topics (or this raises and the
        old state stays), then its ACLs, then is swapped in. Returns whether it changed."""
        reading = await self._source.read()
        self._note_refused(reading.refused)
        old = self._in_force
        changed = old is None or not reading.same_state(old)
        if changed:
            await asyncio.to_thread(self._broker.ensure_topics, reading)
            await self._sync_acls(reading)
            self._state, self._in_force = self._build(reading), reading
            log.info(
                "state in force: policy %s, %d subscriptions",
                reading.snapshot.hash[:19], len(reading.subscriptions),
            )  # fmt: skip
            if reading.snapshot.hash == EMPTY_HASH:
                log.error(
                    "no valid policy set in force: every event is denied until one is applied"
                )
        elif self._monotonic() >= self._acls_due_at:
            await self._sync_acls(reading)
        self.staleness.refreshed()
        return changed

    async def first_state(self, stop: asyncio.Event) -> bool:
        """Refresh until it succeeds (retrying with backoff) or `stop`; returns whether it did."""
        while not stop.is_set():
            if await self._attempt():
                return True
            if await _stopped_within(stop, self._backoff.delay(self._failures)):
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
            if await _stopped_within(stop, wait):
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
                self._failures, self.staleness.age_s(), self.staleness.limit_s, self._last_error,
                exc_info=not isinstance(exc, _EXPECTED),
            )  # fmt: skip
            return False
        if self._failures:
            log.info("policy and subscriptions refreshed again after %d failure(s)", self._failures)
        self._failures, self._last_error = 0, None
        return True

    async def _sync_acls(self, reading: StateReading) -> None:
        """Sync ACLs with `reading`; a failure is logged, counted and retried with backoff."""
        try:
            changes = await asyncio.to_thread(self._broker.sync_acls, reading, self._wall_clock())
        except Exception as exc:  # the new state still goes in force (see the module docstring)
            self._acl_failures += 1
            delay = self._backoff.delay(self._acl_failures)
            self._acls_due_at = self._monotonic() + delay
            self._health.acl_sync_failures.labels(type(exc).__name__).inc()
            log.error(
                "ACL sync failed (%d in a row), retrying in %.0f s: %s: %s",
                self._acl_failures, delay, type(exc).__name__, exc,
                exc_info=not isinstance(exc, _EXPECTED),
            )  # fmt: skip
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

    def health(self) -> StateHealth:
        now = self._monotonic()
        in_force = self._in_force
        return StateHealth(
            proceeding=self.may_proceed(),
            watcher_running=self.running(),
            state_age_s=self.staleness.age_s(),
            staleness_limit_s=self.staleness.limit_s,
            policy=in_force.snapshot.hash if in_force else None,
            subscriptions=len(in_force.subscriptions) if in_force else 0,
            refused_records=self._refused_now,
            acls_in_sync=self._acls_synced_at is not None and self._acl_failures == 0,
            acls_synced_age_s=(
                float("inf") if self._acls_synced_at is None else now - self._acls_synced_at
            ),
            failures_in_a_row=self._failures,
            last_error=self._last_error,
        )


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


def _ended(task: "asyncio.Task[None]", stop: asyncio.Event) -> None:
    if stop.is_set():
        return
    error = None if task.cancelled() else task.exception()
    log.critical(
        "the state watcher ended (%s): consumption stays paused; restart the enforcer",
        "cancelled" if error is None else f"{type(error).__name__}: {error}",
    )
