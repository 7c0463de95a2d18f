"""Prometheus metrics of the audit indexer. What an operator alerts on: the indexer falling behind
the audit topic (lag), records left unsigned for long (the window in which a deletion at the
tail goes unnoticed), checkpoints not yet on the witness topic, unreadable records, and slow
store transactions. The registry is a parameter (no global), as for the enforcer."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bus.audit.store.rows import AppendResult

_APPEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IndexerMetrics:
    """The indexer's Prometheus metrics (see above).

    Parameters:
        registry: the Prometheus registry to register them on.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.stored = Counter(
            "bus_audit_records_stored_total",
            "Audit records stored in the audit store.",
            registry=registry,
        )
        self.unreadable = Counter(
            "bus_audit_records_unreadable_total",
            "Records on the audit topic that are not audit records (stored as UNREADABLE).",
            registry=registry,
        )
        self.checkpoints = Counter(
            "bus_audit_checkpoints_signed_total",
            "Checkpoints signed with the audit key.",
            registry=registry,
        )
        self.snapshots = Counter(
            "bus_audit_policy_snapshots_stored_total",
            "Policy snapshots read from the policy topic and kept for replay.",
            registry=registry,
        )
        self.head = Gauge(
            "bus_audit_chain_head_seq",
            "Position of the newest record in the hash chain.",
            registry=registry,
        )
        self.unsigned = Gauge(
            "bus_audit_unsigned_records",
            "Records stored after the newest signed checkpoint.",
            registry=registry,
        )
        self.append = Histogram(
            "bus_audit_append_seconds",
            "One store transaction: records, positions, checkpoints.",
            buckets=_APPEND_BUCKETS,
            registry=registry,
        )
        self.witness_behind = Gauge(
            "bus_audit_witness_behind",
            "1 while signed checkpoints wait to be published to the witness topic.",
            registry=registry,
        )
        self.witness_late = Counter(
            "bus_audit_witness_late_checkpoints_total",
            "Checkpoints published to the witness topic later than verify expects them there "
            "(after a crash, or signed in the store by someone else: alert on it).",
            registry=registry,
        )
        self.lag = Gauge(
            "bus_audit_indexer_lag_records",
            "Records on the topic not yet stored (high watermark minus position).",
            ["topic", "partition"],
            registry=registry,
        )

    def appended(self, result: AppendResult, seconds: float) -> None:
        """Count one store transaction: what `result` says it stored and signed, and the
        `seconds` it took."""
        self.append.observe(seconds)
        self.stored.inc(result.appended)
        self.unreadable.inc(len(result.unreadable))
        self.checkpoints.inc(len(result.checkpoints))
        self.snapshots.inc(result.snapshots)
        self.head.set(result.head_seq)
        self.unsigned.set(result.unsigned)
