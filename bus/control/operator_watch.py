"""`bus acl sync --watch`: the operator follows the policy and subscription topics and keeps the
broker ready for the state in force: the topics it needs (state, ingress, delivery, dead-letter,
audit, quarantine, source offsets) created, their retention reconciled, every agency's ACLs synced.

A pass runs every `interval_s`, and at once when the state topics' ends move (checked every
`poll_s`: a new policy set or subscription is served within about a second). A failed pass is
logged and retried with backoff; nothing ends the watch but `stop`. Without a policy in force ACLs
follow the last one this watch saw in force, and before any they are left as the broker has them
(as `bus acl sync` refuses to sync to "no policy": that would revoke every agency's access).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from bus.control.acls import AclChanges, describe
from bus.control.broker_setup import KafkaBrokerSetup
from bus.control.retention import RetentionSettings
from bus.control.state_reading import BusStateSource, StateReading, StateSource, StateTopics
from bus.kafka.admin import KafkaAdmin
from bus.kafka.connection import KafkaConnection
from bus.policy.snapshot import Snapshot
from bus.util.backoff import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchTiming:
    """The watch's intervals, in seconds: a full pass at least every `interval_s`; the state
    topics checked for a change every `poll_s`; retries after failures from `retry_initial_s`
    doubling up to `retry_max_s`."""

    interval_s: float = 5.0
    poll_s: float = 1.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 30.0


class WatchSchedule:
    """When the next pass is due (pure: the caller gives the time and the state's signature).

    Due when the interval has passed since the last success, or at once when the signature (the
    state topics' end offsets) differs from the one the last successful pass started from; after
    a failure, only once its backoff has passed, whatever changed.
    """

    def __init__(self, timing: WatchTiming, backoff: Backoff | None = None) -> None:
        self._timing = timing
        self._backoff = backoff or Backoff(timing.retry_initial_s, timing.retry_max_s)
        self._next_at = float("-inf")
        self._seen: Hashable | None = None
        self.failures = 0

    def due(self, now: float, signature: Hashable | None) -> bool:
        """Whether a pass should run now, the state topics' ends being `signature` (None: not
        known)."""
        if now >= self._next_at:
            return True
        return self.failures == 0 and signature is not None and signature != self._seen

    def succeeded(self, now: float, signature: Hashable | None) -> None:
        """A pass that started from `signature` succeeded at `now`."""
        self.failures, self._seen = 0, signature
        self._next_at = now + self._timing.interval_s

    def failed(self, now: float) -> float:
        """A pass (or reading the signature) failed at `now`; returns the wait before the retry."""
        self.failures += 1
        delay = self._backoff.delay(self.failures)
        self._next_at = now + delay
        return delay

    def wait(self, now: float) -> float:
        """How long to sleep before looking again: until the next pass is due, and no longer than
        `poll_s` while no failure is pending (a change must be noticed)."""
        until_due = max(0.0, self._next_at - now)
        return until_due if self.failures else min(self._timing.poll_s, until_due)


def acl_basis(reading: StateReading, last_policy: Snapshot | None) -> StateReading | None:
    """What ACLs are synced to: the reading if it holds a policy; else the reading with the last
    policy in force (revocations by unsubscription or expiry still apply); else None (leave them)."""
    if reading.has_policy:
        return reading
    if last_policy is None:
        return None
    return replace(reading, snapshot=last_policy)


@dataclass(frozen=True)
class PassReport:
    """What one pass did: topics created, ACLs granted and revoked (None: not synced, no policy
    was ever in force), and the state it followed."""

    created: tuple[str, ...]
    acls: AclChanges | None
    policy: str | None
    subscriptions: int

    def lines(self) -> list[str]:
        """One log line per change (nothing when nothing changed)."""
        out = [f"topic created: {t}" for t in self.created]
        if self.acls is not None:
            out += [f"ACL granted: {describe(a)}" for a in sorted(self.acls.added, key=describe)]
            out += [f"ACL revoked: {describe(a)}" for a in sorted(self.acls.removed, key=describe)]
        return out


class OperatorPass:
    """One pass of the watch (and of `bus topics provision`): base topics, the state's topics,
    then ACLs. Blocking broker calls run in a thread, one after another.

    Parameters:
        setup: the operator's broker setup.
        source: where the state is read.
        topics: the state topics followed.
        ingress_prefix: the ingress topics to create are this prefix and each event type.
        wall_clock: epoch seconds, against which grants' `valid_until` is judged.
    """

    def __init__(
        self,
        setup: KafkaBrokerSetup,
        source: StateSource,
        topics: StateTopics,
        ingress_prefix: str,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._setup, self._source = setup, source
        self._topics, self._ingress_prefix, self._wall_clock = topics, ingress_prefix, wall_clock
        self._last_policy: Snapshot | None = None
        self._said_no_policy = False

    async def run(self, *, acls: bool = True) -> PassReport:
        """Create the base topics, read the state, create its topics, sync ACLs (unless not
        `acls`); returns what changed."""
        created = await asyncio.to_thread(
            self._setup.provision_base_topics, self._topics, self._ingress_prefix
        )
        reading = await self._source.read()
        created += await asyncio.to_thread(self._setup.ensure_topics, reading)
        if reading.has_policy:
            self._last_policy, self._said_no_policy = reading.snapshot, False
        basis = acl_basis(reading, self._last_policy) if acls else None
        changes = None
        if basis is not None:
            changes = await asyncio.to_thread(self._setup.sync_acls, basis, self._wall_clock())
        elif acls and not self._said_no_policy:
            self._said_no_policy = True
            log.warning(
                "no policy set in force: agencies' ACLs left as they are (bus policy apply)"
            )
        return PassReport(
            tuple(sorted(created)),
            changes,
            reading.snapshot.hash if reading.has_policy else None,
            len(reading.subscriptions),
        )


class Pass(Protocol):
    """One pass of the watch (OperatorPass)."""

    async def run(self) -> PassReport:
        """Prepare the broker for the state in force; returns what changed."""
        ...


def state_signature(
    admin: KafkaAdmin, topics: StateTopics, policy_dir: Path | None
) -> tuple[object, ...]:
    """What changes when the state may have: the state topics' end offsets (and, following a
    policy directory, its files' modification times)."""

    def ends(topic: str) -> tuple[tuple[int, int], ...]:
        return tuple(sorted(admin.end_offsets(topic, 1, committed_only=False).items()))

    parts: list[object] = [ends(topics.subscriptions)]
    if policy_dir is None:
        parts.append(ends(topics.policy))
    else:
        parts.append(tuple(sorted((str(p), p.stat().st_mtime_ns) for p in policy_dir.rglob("*"))))
    return tuple(parts)


async def watch(
    one_pass: Pass,
    signature: Callable[[], Awaitable[Hashable | None]],
    schedule: WatchSchedule,
    stop: asyncio.Event,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Run passes as `schedule` says until `stop`; a failure is logged and retried with backoff,
    never ends the watch. A pass under way when `stop` is set finishes first."""
    log.info("operator watch started")
    while not stop.is_set():
        now = monotonic()
        try:
            seen = await signature()
            if schedule.due(now, seen):
                report = await one_pass.run()
                if schedule.failures:
                    log.info("operator pass succeeded again after %d failure(s)", schedule.failures)
                schedule.succeeded(now, seen)
                for line in report.lines():
                    log.info("%s", line)
        except Exception as exc:  # nothing ends the watch: log, back off, retry
            delay = schedule.failed(now)
            log.error(
                "operator pass failed (%d in a row), retrying in %.1f s: %s: %s",
                schedule.failures,
                delay,
                type(exc).__name__,
                exc,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), schedule.wait(monotonic()))
    log.info("operator watch stopped")


async def run_operator_watch(
    operator: KafkaConnection,
    topics: StateTopics,
    policy_dir: Path | None,
    ingress_prefix: str,
    retention: RetentionSettings,
    timing: WatchTiming,
    stop: asyncio.Event,
) -> None:
    """The watch as the operator `operator` runs it (`bus acl sync --watch`), until `stop`."""
    admin = KafkaAdmin(operator)
    one_pass = OperatorPass(
        KafkaBrokerSetup(admin, retention),
        BusStateSource(operator, policy_dir, topics),
        topics,
        ingress_prefix,
    )

    async def signature() -> tuple[object, ...] | None:
        # Before the first pass created them, the state topics have no ends to read: no signature.
        try:
            return await asyncio.to_thread(state_signature, admin, topics, policy_dir)
        except Exception:  # the pass that follows creates them, or says what is wrong
            return None

    await watch(one_pass, signature, WatchSchedule(timing), stop)
