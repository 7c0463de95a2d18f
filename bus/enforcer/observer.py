"""What the loop tells its operator besides its outputs: a log line per quarantined record (and per
decision at DEBUG), and the Prometheus metrics. Observing comes after the work it observes and may
never undo or repeat it: a failure here is logged and counted, and the loop goes on."""

import logging
from collections.abc import Callable
from datetime import datetime

from bus.enforcer.input_records import position
from bus.enforcer.metrics import EnforcerMetrics
from bus.enforcer.pipeline import EnforcerState, InRecord, Outcome

Partition = tuple[str, int]  # an input partition: topic and number

# The loop's one logger, also for the modules split off bus/enforcer/service.py: a log filter or
# level set on it still sees everything the loop says.
loop_log = logging.getLogger("bus.enforcer.service")


class LoopObserver:
    """Logs and counts what the loop does.

    Parameters:
        metrics: Prometheus metrics to update, if any (without, only the logs).
        clock: the time end-to-end latencies are measured to.
    """

    def __init__(self, metrics: EnforcerMetrics | None, clock: Callable[[], datetime]) -> None:
        self._metrics = metrics
        self._clock = clock

    def outcome(
        self,
        record: InRecord,
        outcome: Outcome,
        seconds: float,
        event_times: list[datetime],
    ) -> None:
        """Log and count one record's `outcome` (processing took `seconds`); the time of an event
        with decisions goes to `event_times`, for its end-to-end latency once committed."""
        try:
            log_outcome(record, outcome)
            if self._metrics is not None:
                self._metrics.record(outcome, seconds)
                if outcome.event_time is not None and outcome.decisions:
                    event_times.append(outcome.event_time)
        except Exception:  # see the module's docstring
            loop_log.exception(
                "logging or counting an outcome failed", extra={"input": position(record)}
            )
            self.error("observe")

    def transaction_committed(
        self, state: EnforcerState, event_times: list[datetime], commit_seconds: float
    ) -> None:
        """Metrics of a committed transaction: a failure here must not look like a failed commit
        (that would rewind and process the committed batch again)."""
        metrics = self._metrics
        if metrics is None:
            return
        try:
            metrics.flush()
            metrics.committed(event_times, commit_seconds, self._clock())
            metrics.policy_in_force(state.snapshot.hash)
        except Exception:  # see the module's docstring
            loop_log.exception("metrics after a commit failed")
            self.error("metrics")

    def partition_committed(
        self, tp: Partition, next_offset: int, highwater: int | None, seen_events: int
    ) -> None:
        """Metrics of input partition `tp` after a commit up to `next_offset`: its lag to the
        `highwater` mark (if known) and its remembered event ids (`seen_events`)."""
        metrics = self._metrics
        if metrics is None:
            return
        try:
            topic, partition = tp
            metrics.seen_events.labels(topic, str(partition)).set(seen_events)
            if highwater is not None:
                metrics.lag.labels(topic, str(partition)).set(max(0, highwater - next_offset))
        except Exception:  # see the module's docstring
            loop_log.exception("metrics after a commit on %s failed", tp)
            self.error("metrics")

    def error(self, stage: str) -> None:
        """Count a failure of the loop at `stage` (fetch, transaction, loop, fenced, ...), and
        show what was processed before it (counted as processed, committed or not)."""
        if self._metrics is not None:
            self._metrics.loop_errors.labels(stage).inc()
            self._metrics.flush()

    def stalled(self, tp: Partition, stalled: bool) -> None:
        """Raise or clear the alert that `tp` has stalled."""
        if self._metrics is not None:
            topic, partition = tp
            self._metrics.stalled.labels(topic, str(partition)).set(1 if stalled else 0)


def log_outcome(record: InRecord, outcome: Outcome) -> None:
    """A warning for a quarantined record; each decision at DEBUG."""
    if outcome.quarantine_reason is not None:
        loop_log.warning(
            "event quarantined: %s",
            outcome.quarantine_reason,
            extra={
                "event_id": outcome.event_id,
                "reason": outcome.quarantine_reason,
                "detail": outcome.quarantine_detail,
                "input": position(record),
            },
        )
    elif loop_log.isEnabledFor(logging.DEBUG):
        for decision in outcome.decisions:
            loop_log.debug(
                "%s %s for %s/%s",
                outcome.event_id,
                decision.outcome.value,
                decision.consumer,
                decision.purpose,
                extra={
                    "event_id": outcome.event_id,
                    "consumer": decision.consumer,
                    "purpose": decision.purpose,
                    "outcome": decision.outcome.value,
                    "reasons": [r.value for r in decision.reasons],
                },
            )
