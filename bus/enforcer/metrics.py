"""Prometheus metrics of the enforcer. The registry is a parameter (no global), so tests and
several enforcers in one process do not collide."""

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bus.enforcer.pipeline import Outcome

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EnforcerMetrics:
    """The enforcer loop's Prometheus metrics: events, decisions, quarantines, latencies, lag,
    loop errors, stalled partitions and remembered event ids.

    Parameters:
        registry: the Prometheus registry to register them on.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._snapshot_hash: str | None = None
        # Counts `record` adds up until `flush`.
        self._events: dict[tuple[str, str], int] = {}
        self._quarantined: dict[str, int] = {}
        self._decisions: dict[tuple[str, str, str], int] = {}
        self.events = Counter(
            "bus_enforcer_events_consumed_total",
            "Input events consumed.",
            ["event_type", "producer"],
            registry=registry,
        )
        self.decisions = Counter(
            "bus_enforcer_decisions_total",
            "Policy decisions.",
            ["outcome", "reason", "consumer"],
            registry=registry,
        )
        self.quarantined = Counter(
            "bus_enforcer_quarantined_total",
            "Input records quarantined.",
            ["reason"],
            registry=registry,
        )
        self.processing = Histogram(
            "bus_enforcer_processing_seconds",
            "Verify, decide and disclose one event.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.end_to_end = Histogram(
            "bus_enforcer_end_to_end_seconds",
            "Event time to committed delivery.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.commit = Histogram(
            "bus_enforcer_transaction_commit_seconds",
            "Time to commit one transaction.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.snapshot = Gauge(
            "bus_enforcer_policy_snapshot_info",
            "The policy snapshot in force (value 1).",
            ["hash"],
            registry=registry,
        )
        self.lag = Gauge(
            "bus_enforcer_consumer_lag_records",
            "Records not yet processed.",
            ["topic", "partition"],
            registry=registry,
        )
        self.loop_errors = Counter(
            "bus_enforcer_loop_errors_total",
            "Unexpected failures in the loop, by stage; the loop carries on.",
            ["stage"],
            registry=registry,
        )
        self.stalled = Gauge(
            "bus_enforcer_partition_stalled",
            "1 while an input partition is stopped after repeated failures (alert on it).",
            ["topic", "partition"],
            registry=registry,
        )
        self.seen_events = Gauge(
            "bus_enforcer_seen_events",
            "Event ids remembered per input partition to refuse republication.",
            ["topic", "partition"],
            registry=registry,
        )

    def record(self, outcome: Outcome, seconds: float) -> None:
        """Count one processed record: its event, quarantine and decisions (added up here, shown
        at the next `flush`), and the `seconds` its processing took."""
        self.processing.observe(seconds)
        events = self._events
        key = (outcome.event_type or "unknown", outcome.producer or "unknown")
        events[key] = events.get(key, 0) + 1
        if outcome.quarantine_reason is not None:
            quarantined = self._quarantined
            quarantined[outcome.quarantine_reason] = (
                quarantined.get(outcome.quarantine_reason, 0) + 1
            )
        decisions = self._decisions
        for decision in outcome.decisions:
            for reason in decision.reasons:
                labels = (decision.outcome.value, reason.value, decision.consumer)
                decisions[labels] = decisions.get(labels, 0) + 1

    def flush(self) -> None:
        """Show what `record` added up: once per transaction, not once per event and decision
        (a labelled counter's increment costs a lookup under a lock, ~3 µs)."""
        for (event_type, producer), count in self._events.items():
            self.events.labels(event_type, producer).inc(count)
        for reason, count in self._quarantined.items():
            self.quarantined.labels(reason).inc(count)
        for labels, count in self._decisions.items():
            self.decisions.labels(*labels).inc(count)
        self._events.clear()
        self._quarantined.clear()
        self._decisions.clear()

    def committed(self, event_times: list[datetime], commit_seconds: float, now: datetime) -> None:
        """A committed transaction: how long the commit took, and for each event the time from
        its `ce_time` to `now` (end to end)."""
        self.commit.observe(commit_seconds)
        for event_time in event_times:
            if event_time.tzinfo is None:
                # Never from the pipeline (the codec refuses a ce_time without a zone); a stand-in
                # processor's could only raise here, after the commit.
                continue
            self.end_to_end.observe(max(0.0, (now - event_time).total_seconds()))

    def policy_in_force(self, snapshot_hash: str) -> None:
        """Show `snapshot_hash` as the policy snapshot in force."""
        # Called per transaction; the gauge only changes when the policy does.
        if snapshot_hash != self._snapshot_hash:
            self.snapshot.clear()
            self.snapshot.labels(snapshot_hash).set(1)
            self._snapshot_hash = snapshot_hash
